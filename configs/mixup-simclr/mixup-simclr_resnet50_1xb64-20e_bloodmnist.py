# Mixup + SimCLR (mixssl_mm's `MixupSimCLR`: mmpretrain's SimCLR on views
# mixed within the batch, see docs/baselines.md) pretrained on BloodMNIST with
# the same budget as MixSSL's recipe
# (configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py): ResNet-50,
# 224 px, batch 64, Adam 1e-4 (wd 1e-4), 20 epochs, constant lr.
# Data, augmentation, neck and head are those of
# simclr_resnet50_1xb64-20e_bloodmnist.py; only the mix-up is added:
# λ ~ Beta(1, 1), one λ per batch (lam_mode='batch'), partners by a random
# permutation, shared by the two views.
_base_ = ['../simclr/simclr_resnet50_1xb64-20e_bloodmnist.py']

model = dict(type='MixupSimCLR', alpha=1.0, lam_mode='batch')
