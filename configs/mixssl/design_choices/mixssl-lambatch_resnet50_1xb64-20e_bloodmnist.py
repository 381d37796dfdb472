# MixSSL design choice "λ per batch or per sample": one λ ~ Beta(α, α) for
# the whole (global) batch, the paper's reading, instead of the default one
# λ per sample. Both are drawn by the model on the device. With
# training-mode batch norm a batch-wide λ shows in the batch statistics, a
# shortcut for the transparency head (configs/mixssl/README.md, "λ per
# sample"); per-sample λs remove it. Everything else is the main config.
#   one key away: --cfg-options model.lam_mode=batch
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(lam_mode='batch')
