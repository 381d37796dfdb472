# MixSSL design choice "learning-rate schedule": linear warm-up over the
# first epoch (from 1e-3 x lr, per iteration, reaching lr at the epoch's
# last iteration) and a cosine decay to 0 over the whole run, instead of
# the paper's constant lr (it gives no schedule). mmengine schedulers, as
# mmpretrain's configs use them. The cosine has no `end`: mmengine sets it
# to train_cfg.max_epochs, so a shortened run (--cfg-options
# train_cfg.max_epochs=3, the benchmark presets) still decays to 0 at its
# end. It overlaps the warm-up (mmengine multiplies overlapping schedules;
# the cosine factor is 0.994 when the warm-up ends, at 20 epochs), which
# keeps a 1-epoch run valid. Peak lr, optimizer and everything else are the
# paper recipe.
#   one key away from the paper: --cfg-options param_scheduler=[]
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]
