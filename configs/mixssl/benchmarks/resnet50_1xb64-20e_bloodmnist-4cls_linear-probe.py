# Linear probe of a MixSSL-pretrained ResNet-50 on the 4-class task: frozen
# encoder (BN in eval mode), a linear classifier trained with Adam 1e-3.
_base_ = ['./resnet50_1xb64-20e_bloodmnist-4cls_finetune.py']

# The pooled features are standardised by a BatchNorm without affine
# parameters before the linear layer (MAE's linear-probe recipe): pretext
# tasks leave features on very different scales, and a short probe with one
# learning rate would otherwise compare scales rather than features.
model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=2048)
    ])
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
