# MixSSL on mmpretrain's ConvNeXt-T: the paper recipe
# (mixssl_resnet50_1xb64-20e_bloodmnist.py: 224 px, batch 64, Adam 1e-4,
# 20 epochs) with the encoder swapped. Not the paper's model (it uses a
# ResNet-50); say so when you report numbers.
#
# What another encoder needs (docs/getting_started.md, "MixSSL on other
# backbones"): its last feature map, (N, C, h, w), not the pooled vector
# ConvNeXt returns by default (gap_before_final_norm=False); the decoder's
# and λ head's in_channels = C (768); num_upsamples = log2(output stride)
# (ConvNeXt: 32 -> 5). The pre-flight of tools/train.py probes the encoder
# and refuses any mismatch with the key to set.
_base_ = ['./mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXt',
        arch='tiny',
        gap_before_final_norm=False),
    neck=dict(in_channels=768, num_upsamples=5),
    head=dict(in_channels=768))
