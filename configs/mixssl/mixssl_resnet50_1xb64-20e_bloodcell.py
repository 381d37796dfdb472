# MixSSL, the paper's recipe on the Kaggle blood-cell images with Imagenette
# as auxiliary set (the paper's Table 1 setting). Place the data as
#   data/blood-cell/dataset2-master/images/TRAIN/<CLASS>/*.jpeg
#   data/imagenette2/train/<wnid>/*.JPEG
_base_ = [
    '../_base_/models/mixssl_resnet50.py',
    '../_base_/datasets/bloodcell_mixssl.py',
    '../_base_/schedules/adam_20e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    # stop on NaN/inf with the last good checkpoint intact
    non_finite=dict(type='NonFiniteLossHook'),
    # random states in checkpoints: bit-exact --resume (docs/reliability.md)
    exact_resume=dict(type='ExactResumeHook'))
