# BYOL (mmpretrain's built-in `BYOL`, `NonLinearNeck`, `LatentPredictHead`)
# pretrained on BloodMNIST with the same budget as MixSSL's recipe
# (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py): ResNet-50,
# 224 px, batch 64, Adam 1e-4 (wd 1e-4), 20 epochs, constant lr.
# Augmentation: BYOL's own asymmetric two-view pipeline from mmpretrain. The
# model is mmpretrain's byol_resnet50_16xb256-coslr-200e_in1k.py with BN
# instead of SyncBN everywhere (SyncBN needs a distributed GPU run; the neck
# and predictor norms act on (N, C) vectors, hence BN1d).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_byol.py',
    '../_base_/schedules/adam_20e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

# MedMNIST samples are decoded arrays: no LoadImageFromFile.
train_pipeline = [
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[_base_.view_pipeline1, _base_.view_pipeline2]),
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
    type='BYOL',
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        loss=dict(type='CosineSimilarityLoss')),
)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
