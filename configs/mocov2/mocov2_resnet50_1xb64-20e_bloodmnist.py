# MoCo v2 (mmpretrain's built-in `MoCo` with `MoCoV2Neck` and
# `ContrastiveHead`; mmpretrain registers MoCo v2 as type='MoCo') pretrained
# on BloodMNIST with the same budget as MixSSL's recipe
# (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py): ResNet-50,
# 224 px, batch 64, Adam 1e-4 (wd 1e-4), 20 epochs, constant lr.
# Augmentation: MoCo v2's own two-view pipeline from mmpretrain. The model is
# mmpretrain's mocov2_resnet50_8xb32-coslr-200e_in1k.py except the queue:
# 65536 keys is more than 5x BloodMNIST's 11,959 training images, so the
# queue holds 4096 keys (64 batches); it must be a multiple of the batch
# size (hence drop_last=True).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/adam_20e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

# MedMNIST samples are decoded arrays: no LoadImageFromFile.
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[_base_.view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    # _delete_: the inherited dict carries the `_scope_` key that mmengine
    # adds to mmpretrain:: bases, which default_collate() does not accept
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(
        _delete_=True,
        type='MedMNIST',
        data_root='data/medmnist/',
        ann_file='bloodmnist.npz',
        split='train',
        with_label=False,
        pipeline=train_pipeline))

model = dict(
    type='MoCo',
    queue_len=4096,
    feat_dim=128,
    momentum=0.001,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
