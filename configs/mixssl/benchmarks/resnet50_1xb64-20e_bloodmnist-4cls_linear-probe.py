# Linear probe of a MixSSL-pretrained ResNet-50 on the 4-class task: frozen
# encoder (BN in eval mode), a linear classifier trained with Adam 1e-3.
_base_ = ['./resnet50_1xb64-20e_bloodmnist-4cls_finetune.py']

model = dict(backbone=dict(frozen_stages=4, norm_eval=True))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
