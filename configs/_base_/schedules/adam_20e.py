# The paper's recipe: Adam, lr 1e-4, weight decay 1e-4, 20 epochs, constant lr.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-4))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)
# lr was tuned for batch 64; `--auto-scale-lr` rescales it
auto_scale_lr = dict(base_batch_size=64)
