# MixSSL design choice "pixel space of reconstruction": the decoder
# reconstructs x_t in [0, 1] (the normalised view de-normalised with the data
# preprocessor's mean/std, / 255) instead of the normalised x_t. Everything
# else is the paper recipe of the main config. It changes what γ = 1 weighs:
# loss_rec shrinks by about std² / 255² (≈ 0.05) while loss_trans keeps its
# scale (README.md, "Design choices").
#   one key away: --cfg-options model.rec_head.rec_space=unit
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(rec_head=dict(rec_space='unit'))
