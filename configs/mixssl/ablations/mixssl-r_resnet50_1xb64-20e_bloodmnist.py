# MixSSL ablation, Table 3 row "R only": reconstruction alone
# (L = L_rec). Everything else is the paper recipe of the main config.
# The transparency head's config is inherited but not built (use_trans=False),
# so `--cfg-options model.head.in_channels=...` still parses.
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(use_rec=True, use_trans=False)
