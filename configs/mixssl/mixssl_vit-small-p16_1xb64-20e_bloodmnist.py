# MixSSL on mmpretrain's ViT-S/16 (DeiT-S widths: 384 dims, 12 layers, 6
# heads): the paper recipe (mixssl_resnet50_1xb64-20e_bloodmnist.py: 224 px,
# batch 64, Adam 1e-4, 20 epochs) with the encoder swapped. Not the paper's
# model (it uses a ResNet-50); say so when you report numbers.
#
# What another encoder needs (docs/getting_started.md, "MixSSL on other
# backbones"): its last feature map, (N, C, h, w), not the class token the
# ViT returns by default (out_type='featmap': the patch tokens as a 14x14
# map); the decoder's and λ head's in_channels = C (384); num_upsamples =
# log2(output stride) (patch 16 -> 4). The pre-flight of tools/train.py
# probes the encoder and refuses any mismatch with the key to set.
_base_ = ['./mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='featmap'),
    neck=dict(in_channels=384, num_upsamples=4),
    head=dict(in_channels=384))
