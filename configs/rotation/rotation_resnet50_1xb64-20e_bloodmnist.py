# Rotation prediction (mixssl_mm's `Rotation`, Gidaris et al. 2018; the
# 0/90/180/270 degree rotations are made on the device from one view, see
# docs/baselines.md) pretrained on BloodMNIST with the same budget as
# MixSSL's recipe (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py):
# ResNet-50, 224 px, batch 64 (x4 rotations in the encoder batch), Adam 1e-4
# (wd 1e-4), 20 epochs, constant lr.
# Augmentation: mmselfsup 0.x's RotationPred recipe (random resized crop and
# flip, no colour distortion). Neck and head are mmpretrain's
# GlobalAveragePooling and LinearClsHead (4 classes, CrossEntropyLoss).
_base_ = [
    '../_base_/schedules/adam_20e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# MedMNIST samples are decoded arrays: no LoadImageFromFile. One square view
# per image; Rotation rotates it on the device.
train_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MedMNIST',
        data_root='data/medmnist/',
        ann_file='bloodmnist.npz',
        split='train',
        with_label=False,
        pipeline=train_pipeline))

model = dict(
    type='Rotation',
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss')),
)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
