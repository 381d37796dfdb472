# MixSSL, the paper's recipe (ResNet-50, 224 px, batch 64, Adam 1e-4, 20
# epochs) on BloodMNIST, auxiliary images from the offline photo pool.
_base_ = [
    '../_base_/models/mixssl_resnet50.py',
    '../_base_/datasets/bloodmnist_mixssl.py',
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
