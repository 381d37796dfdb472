# Fine-tune a MixSSL-pretrained ResNet-50 on the paper's 4-class blood-cell
# task: 20 epochs, Adam 1e-4 (the paper's protocol). Give the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH/epoch_20.pth
_base_ = [
    '../../_base_/datasets/bloodmnist-4cls_cls.py',
    '../../_base_/schedules/adam_20e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/mixssl_resnet50_1xb64-20e_bloodmnist/'
            'epoch_20.pth',
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))

val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='accuracy/top1'))
