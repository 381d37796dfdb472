# The paper's "ImageNet-self" row: fine-tune DINO's self-supervised ImageNet
# ResNet-50 straight on the 4-class blood-cell task (no MixSSL pretraining),
# with the same protocol as resnet50_1xb64-20e_bloodmnist-4cls_finetune.py
# (20 epochs, Adam 1e-4). Convert DINO's release once (nothing is
# downloaded here; docs/model_converters.md gives the URLs):
#   python tools/model_converters/resnet_to_mmpretrain.py \
#       dino_resnet50_pretrain.pth checkpoints/dino_resnet50_mmpretrain.pth
# torchvision's ImageNet ResNet-50 converts the same way; give its output
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = ['./resnet50_1xb64-20e_bloodmnist-4cls_finetune.py']

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/dino_resnet50_mmpretrain.pth',
            prefix='backbone.')))
