# MixSSL with the paper's ResNet-50 encoder (decoder: see ResnetGenerator).
# λ ~ Beta(alpha, alpha) is drawn by the model, one per sample; the paper's
# reading, one λ per batch, is lam_mode='batch'
# (configs/mixssl/design_choices/mixssl-lambatch_*.py).
model = dict(
    type='MixSSL',
    alpha=1.0,
    lam_mode='sample',
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN')),
    neck=dict(
        type='ResnetGenerator',
        in_channels=2048,
        num_upsamples=5,  # ResNet output stride 32
        res_channels=256,
        ngf=64,
        n_blocks=6,
        norm_cfg=dict(type='BN')),
    head=dict(
        type='TransparencyHead',
        in_channels=2048,
        hid_channels=128,
        loss=dict(type='TransparencyLoss', loss_weight=1.0)),  # γ = 1
    rec_head=dict(
        type='MixSSLReconstructionHead',
        loss=dict(type='ReconstructionLoss', criterion='mse'),
        rec_space='normalized'))
