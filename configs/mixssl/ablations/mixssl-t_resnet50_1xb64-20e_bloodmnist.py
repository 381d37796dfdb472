# MixSSL ablation, Table 3 row "T only": transparency (λ) prediction alone
# (L = γ·L_trans, γ = 1). Everything else is the paper recipe of the main
# config. The decoder's config is inherited but not built (use_rec=False), so
# `--cfg-options model.neck.in_channels=...` still parses.
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(use_rec=False, use_trans=True)
