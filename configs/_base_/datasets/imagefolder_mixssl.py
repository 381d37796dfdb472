# MixSSL pretraining on any folder of target images (ImageNet-style
# <class>/<image> sub-folders or a flat folder; labels are ignored) with any
# folder of natural images as auxiliary set (Imagenette by default).
target_root = 'data/target/'
aux_root = 'data/imagenette2/train/'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
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
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    *view_pipeline,
    dict(
        type='CrossDomainMixup',
        aux_dataset=dict(
            type='CustomDataset',
            data_root=aux_root,
            with_label=False,
            pipeline=[dict(type='LoadImageFromFile'), *view_pipeline])),
    dict(type='PackInputs', algorithm_keys=['aux_label', 'aux_num_classes']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=target_root,
        with_label=False,
        pipeline=train_pipeline))
