# MixSSL with the paper's ResNet-50 encoder (decoder: see ResnetGenerator).
model = dict(
    type='MixSSL',
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
    loss_rec=dict(type='ReconstructionLoss', criterion='mse'))
