# Linear probe on all 8 BloodMNIST classes: frozen encoder (BN in eval
# mode), a linear classifier trained with Adam 1e-3 for 20 epochs. The 8-class
# counterpart of
# configs/mixssl/benchmarks/resnet50_1xb64-20e_bloodmnist-4cls_linear-probe.py;
# works for any method whose checkpoint keeps the encoder under `backbone.`
# (MixSSL, SimCLR, MoCo v2, BYOL). Give the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH/epoch_20.pth
_base_ = ['./resnet50_1xb64-20e_bloodmnist_finetune.py']
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)

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
