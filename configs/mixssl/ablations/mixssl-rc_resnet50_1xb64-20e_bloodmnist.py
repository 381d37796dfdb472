# MixSSL ablation, Table 3 row "R+C": reconstruction plus a contrastive
# objective (L = L_rec + γ·L_contrast, γ = 1). C is SimCLR's NT-Xent between
# two differently mixed views of each target: view 1 is the mix that R
# reconstructs from; view 2 mixes the same target with the next sample's
# auxiliary image (the batch rolled by one) and a second λ' ~ Beta(α, α).
# Projector and temperature are those of the SimCLR baseline
# (configs/simclr/simclr_resnet50_1xb64-20e_bloodmnist.py). The
# transparency head is not built (use_trans=False). The objective is the
# subclass MixSSLContrast.
# For a ResNet-18/34 encoder also set model.contrast_neck.in_channels=512
# (and hid_channels=512, as the SimCLR baseline does).
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    type='MixSSLContrast',
    use_rec=True,
    use_trans=False,
    contrast_neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    contrast_head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),  # γ = 1
        temperature=0.1))

# full batches: every view has the same number of negatives, and the
# projector's BatchNorm1d needs more than one sample
train_dataloader = dict(drop_last=True)
