# A short CPU-sized MixSSL run (the README quick start): ResNet-18 at 64 px,
# one epoch over the first 3,200 of BloodMNIST's 11,959 training images
# (50 iterations). Drop `indices` to use them all.
_base_ = ['./mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=512, n_blocks=2),
    head=dict(in_channels=512))

view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, backend='pillow'),
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
train_pipeline = [
    *view_pipeline,
    dict(
        type='CrossDomainMixup',
        aux_dataset=dict(type='NaturalPhotoPool', pipeline=view_pipeline)),
    dict(type='PackInputs', algorithm_keys=['aux_label', 'aux_num_classes']),
]
train_dataloader = dict(
    num_workers=2, dataset=dict(pipeline=train_pipeline, indices=3200))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=1)
# reconstruction grids under <work_dir>/<timestamp>/vis_data/vis_image/
custom_hooks = [dict(type='MixSSLVisualizationHook', interval=25)]
# console without mmengine's environment, config and hook-order dumps
# (they stay in the log file; mixssl_mm/apis/console.py)
quiet_startup = True
# a console line every 5 iterations (tools/quickstart.sh runs this config)
default_hooks = dict(logger=dict(interval=5))
# the same weights, hence the same fine-tuned top-1, on every run on one
# machine (other CPUs/thread counts round differently)
randomness = dict(seed=0)
