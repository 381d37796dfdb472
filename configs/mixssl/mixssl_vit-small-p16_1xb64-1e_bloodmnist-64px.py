# The quick start's short CPU-sized run
# (mixssl_resnet18_1xb64-1e_bloodmnist-64px.py: 64 px, one epoch over 3,200
# BloodMNIST images) on ViT-S/16 instead of ResNet-18; the model as
# mixssl_vit-small-p16_1xb64-20e_bloodmnist.py with img_size=64 (a 4x4 map
# of patch tokens; num_upsamples stays 4).
_base_ = ['./mixssl_resnet18_1xb64-1e_bloodmnist-64px.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-small',
        img_size=64,
        patch_size=16,
        out_type='featmap'),
    neck=dict(in_channels=384, num_upsamples=4),
    head=dict(in_channels=384))
