# The quick start's short CPU-sized run
# (mixssl_resnet18_1xb64-1e_bloodmnist-64px.py: 64 px, one epoch over 3,200
# BloodMNIST images) on ConvNeXt-T instead of ResNet-18; the model as
# mixssl_convnext-tiny_1xb64-20e_bloodmnist.py (at 64 px ConvNeXt's stride
# of 32 leaves a 2x2 feature map; num_upsamples stays 5).
_base_ = ['./mixssl_resnet18_1xb64-1e_bloodmnist-64px.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXt',
        arch='tiny',
        gap_before_final_norm=False),
    neck=dict(in_channels=768, num_upsamples=5),
    head=dict(in_channels=768))
