# MixSSL design choice "λ per batch or per sample": every sample draws its
# own λ ~ Beta(α, α) (CrossDomainMixup(lam_mode='sample'), drawn in the data
# workers and carried as mix_lam) instead of the paper's one λ per batch
# (drawn on the device). With training-mode batch norm a batch-wide λ shows
# in the batch statistics, a possible shortcut for the transparency head;
# per-sample λs remove it. Everything else is the paper recipe.
#   one key away: --cfg-options train_dataloader.dataset.pipeline.5.lam_mode=sample
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

# the main config's pipeline; its CrossDomainMixup (index 5) with lam_mode
train_pipeline = [
    *_base_.train_pipeline[:5],
    dict(_base_.train_pipeline[5], lam_mode='sample'),
    *_base_.train_pipeline[6:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
