# Linear probe of the quick start's MixSSL encoder (ResNet-18, 64 px): the
# recipe of resnet50_1xb64-20e_bloodmnist-4cls_linear-probe.py (frozen
# encoder, BN-standardised pooled features, Adam 1e-3) at 512 channels.
_base_ = ['./resnet18_1xb64-1e_bloodmnist-4cls-64px_finetune.py']

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=512)
    ])
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
