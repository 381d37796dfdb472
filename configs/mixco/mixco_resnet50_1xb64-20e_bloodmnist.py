# MixCo (mixssl_mm's `MixCo`: mix-up contrast with soft targets over
# semi-positives, on top of mmpretrain's SimCLR, see docs/baselines.md)
# pretrained on BloodMNIST with the same budget as MixSSL's recipe
# (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py): ResNet-50,
# 224 px, batch 64, Adam 1e-4 (wd 1e-4), 20 epochs, constant lr.
# Data, augmentation, neck and head are those of
# simclr_resnet50_1xb64-20e_bloodmnist.py. MixCo's own settings follow the
# paper: λ ~ Beta(1, 1) (uniform) per image, β = 1 (mix_loss.loss_weight),
# τ_mix = SimCLR's τ (0.1 here).
_base_ = ['../simclr/simclr_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    type='MixCo',
    alpha=1.0,
    lam_mode='sample',
    mix_temperature=0.1,
    mix_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=1.0))
