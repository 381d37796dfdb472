# DINO with a ResNet-50 encoder (mixssl_mm's `DINO`, `DINONeck`, `DINOHead`;
# mmpretrain 1.2 ships no DINO, see docs/baselines.md) pretrained on
# BloodMNIST with the same budget as MixSSL's recipe
# (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py): ResNet-50,
# batch 64, Adam 1e-4 (wd 1e-4), 20 epochs, constant lr.
# DINO's own settings are the official ResNet-50 recipe's: multi-crop with
# 2 global crops (224 px, scale 0.14-1; blur 1.0 / blur 0.1 + solarize 0.2)
# and 8 local crops (96 px, scale 0.05-0.14, blur 0.5); 65536 prototypes,
# no BN in the head, weight-normalised last layer with g fixed to 1 and held
# still during the first epoch (DINO's freeze_last_layer=1; here 1 of 20
# epochs, given as the fraction 0.05 of the run so that shorter runs, e.g.
# the benchmark presets, scale it: DINOLastLayerFreezeHook); student τ 0.1,
# teacher τ 0.04 (no warm-up), centre momentum 0.9; teacher momentum
# 0.996 -> 1 by a cosine (CosineEMA m 0.004 -> 0).
# Not taken from DINO: its SGD/LARS, lr and weight-decay schedules and
# gradient clipping (the budget above is shared by every baseline).
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

color_pipeline = [
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1,
                backend='cv2')  # pillow's blends; mmcv warns on pillow
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
]
global_crop = dict(
    type='RandomResizedCrop',
    scale=224,
    crop_ratio_range=(0.14, 1.0),
    interpolation='bicubic',
    backend='pillow')
global_pipeline1 = [
    global_crop,
    *color_pipeline,
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=1.0),
]
global_pipeline2 = [
    global_crop,
    *color_pipeline,
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
local_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=96,
        crop_ratio_range=(0.05, 0.14),
        interpolation='bicubic',
        backend='pillow'),
    *color_pipeline,
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
]
num_local_crops = 8

# MedMNIST samples are decoded arrays: no LoadImageFromFile. The two global
# crops come first (DINO's num_global_crops=2), then the local crops.
train_pipeline = [
    dict(
        type='MultiView',
        num_views=[1, 1, num_local_crops],
        transforms=[global_pipeline1, global_pipeline2, local_pipeline]),
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
    type='DINO',
    base_momentum=0.004,
    end_momentum=0.,
    num_global_crops=2,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='DINONeck',
        in_channels=2048,
        out_channels=65536,
        hid_channels=2048,
        bottleneck_channels=256,
        num_layers=3,
        use_bn=False,
        norm_last_layer=True),
    head=dict(
        type='DINOHead',
        out_channels=65536,
        student_temp=0.1,
        teacher_temp=0.04,
        center_momentum=0.9),
)

# the last layer gets no update in the first 5 % of the iterations (186 of
# the recipe's 3,720: 11,959 images / 64, drop_last, x 20 epochs)
custom_hooks = [dict(type='DINOLastLayerFreezeHook', freeze_ratio=0.05)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
