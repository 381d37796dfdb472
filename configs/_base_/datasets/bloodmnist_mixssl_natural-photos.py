# MixSSL pretraining on BloodMNIST with the natural photo pool as auxiliary
# set: 4096 distinct crops of 62 photographs from pinned Debian packages
# (NaturalPhotoFolder; sources, checksums, licences: docs/data.md). Fetch
# both first:
#   python tools/data/fetch_bloodmnist.py
#   python tools/data/fetch_natural_photos.py
# Otherwise bloodmnist_mixssl.py, whose 16-photo NaturalPhotoPool needs no
# download (the tests' and quick starts' pool). Use it in a config with
#   _base_ = ['../_base_/datasets/bloodmnist_mixssl_natural-photos.py', ...]
# (R+A: aux_head.num_classes=62, one class per photo).
_base_ = ['./bloodmnist_mixssl.py']

# bloodmnist_mixssl.py's pipelines, restated because a child config cannot
# reach into the base's train_pipeline list (a test keeps them equal)
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

aux_dataset = dict(
    type='NaturalPhotoFolder',
    data_root='data/natural_photos/',
    num_crops=4096,
    with_label=True,
    pipeline=view_pipeline)

train_pipeline = [
    *view_pipeline,
    dict(type='CrossDomainMixup', aux_dataset=aux_dataset),
    dict(type='PackInputs', algorithm_keys=['aux_label', 'aux_num_classes']),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
