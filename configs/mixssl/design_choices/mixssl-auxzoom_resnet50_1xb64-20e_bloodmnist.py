# MixSSL design choice "auxiliary crops": the auxiliary photos are cut into
# smaller, zoomed-in patches (RandomResizedCrop over 5-50 % of the photo's
# area, the plain-PyTorch prototype's torchvision scale=(0.05, 0.5)) instead
# of the target's recipe (8-100 %, mmpretrain's default crop_ratio_range).
# The rest of the auxiliary augmentation and the whole target pipeline are
# the paper recipe of the main config.
#   one key away: --cfg-options
#   train_dataloader.dataset.pipeline.5.aux_dataset.pipeline.0.crop_ratio_range="(0.05,0.5)"
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

aux_view_pipeline = [
    dict(_base_.view_pipeline[0], crop_ratio_range=(0.05, 0.5)),
    *_base_.view_pipeline[1:],
]
# the main config's pipeline; its CrossDomainMixup (index 5) with the
# auxiliary pool's pipeline replaced
train_pipeline = [
    *_base_.train_pipeline[:5],
    dict(
        _base_.train_pipeline[5],
        aux_dataset=dict(_base_.aux_dataset, pipeline=aux_view_pipeline)),
    *_base_.train_pipeline[6:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
