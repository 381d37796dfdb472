# MixSSL pretraining on BloodMNIST (MedMNIST v2, 28 px, upsampled by the
# crop) with the offline photo pool as auxiliary set.
# Fetch the data first: python tools/data/fetch_bloodmnist.py
data_root = 'data/medmnist/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# The paper's pretext augmentation, applied independently to the target and
# to the auxiliary image. MedMNIST samples are already decoded, so there is
# no LoadImageFromFile.
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

# Stand-in for Imagenette: photos shipped inside scikit-image, scikit-learn
# and matplotlib, sampled as random resized crops. For Imagenette use
# aux_dataset=dict(type='CustomDataset', data_root='data/imagenette2/train',
# with_label=True, pipeline=[dict(type='LoadImageFromFile'), *view_pipeline])
# (labelled by its 10 class folders; R+A then needs aux_head.num_classes=10).
# with_label: each photo is labelled by its source photo (16 classes) for the
# R+A ablation (configs/mixssl/ablations/); R+T ignores the labels, and the
# labels draw no random numbers, so its runs are unchanged.
aux_dataset = dict(
    type='NaturalPhotoPool', with_label=True, pipeline=view_pipeline)

train_pipeline = [
    *view_pipeline,
    # pairs each target with an auxiliary image; λ is the model's
    dict(type='CrossDomainMixup', aux_dataset=aux_dataset),
    # the auxiliary labels are read by objective A only (MixSSLAux); R+T
    # needs a plain dict(type='PackInputs')
    dict(type='PackInputs', algorithm_keys=['aux_label', 'aux_num_classes']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    # persistent workers keep their random state across epochs; re-created
    # workers would be re-seeded identically and repeat the pairing
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MedMNIST',
        data_root=data_root,
        ann_file='bloodmnist.npz',
        split='train',
        with_label=False,
        pipeline=train_pipeline))
