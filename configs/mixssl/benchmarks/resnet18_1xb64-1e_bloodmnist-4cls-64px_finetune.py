# Fine-tune the quick start's MixSSL encoder (ResNet-18, 64 px,
# configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py) on the paper's
# 4-class blood-cell task (6,353 training images): the protocol of the
# ResNet-50 / 224 px config below at the quick start's encoder and size, for
# one epoch (100 iterations, like the quick start a demonstration of the
# path, not the paper's 20 epochs). tools/quickstart.sh runs it:
#   python tools/train.py THIS_CONFIG   # from work_dirs/quickstart/epoch_1.pth
#   python tools/test.py THIS_CONFIG work_dirs/THIS_CONFIG_NAME/epoch_1.pth
_base_ = ['./resnet50_1xb64-20e_bloodmnist-4cls_finetune.py']

model = dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(checkpoint='work_dirs/quickstart/epoch_1.pth')),
    head=dict(in_channels=512))  # ResNet-18's last stage

img_size = 64
train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(num_workers=2, dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(num_workers=2, dataset=dict(pipeline=test_pipeline))
train_cfg = dict(max_epochs=1)
# one epoch: the test of its checkpoint is the evaluation (no model
# selection on the val split)
val_dataloader = None
val_evaluator = None
val_cfg = None
# a console line every 10 iterations, in training and in testing
default_hooks = dict(checkpoint=dict(save_best=None), logger=dict(interval=10))
# the same top-1 on every run on one machine, given the same encoder
randomness = dict(seed=0)
# console without mmengine's environment, config and hook-order dumps
# (they stay in the log file; mixssl_mm/apis/console.py)
quiet_startup = True
