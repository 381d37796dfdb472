# MixSSL, the paper's model and data recipe (ResNet-50, 224 px, 20 epochs,
# Adam) with every speed lever on, for one CUDA GPU (Ampere or newer: bf16).
# On a CPU-only machine stock mmengine's AmpOptimWrapper refuses to start;
# this project's tools run it in bf16 there (compat fix `cpu-amp`,
# docs/compat.md), slowly. See docs/performance.md for what each lever gives.
#
#   python tools/train.py \
#       configs/mixssl/mixssl_resnet50_1xb256-20e_bloodmnist-fast.py
#
# Levers (each can be switched off with --cfg-options):
# - bf16 autocast: AmpOptimWrapper(dtype='bfloat16')
#     off: optim_wrapper.type=OptimWrapper
# - channels_last encoder, decoder and head (MixSSL(channels_last=True))
#     off: model.channels_last=False
# - torch.compile of train_step (mmengine's top-level `compile`; the first
#   iterations compile, minutes)        off: compile=False
# - fused Adam (one kernel for all parameters)
#     off: optim_wrapper.optimizer.fused=False
# - batch 256 (4x the paper's 64), persistent workers, pinned memory and
#   more workers to keep the GPU fed
# - the mix itself already runs on the device (λ drawn there too), one lerp
#   per batch
_base_ = ['./mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(channels_last=True)

train_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=True, pin_memory=True)

# lr: mmengine's linear rule from the paper's 1e-4 at batch 64, i.e. what
# `--auto-scale-lr` would give the paper config at batch 256
# (1e-4 x 256 / 64). Linear scaling is a heuristic for Adam; the sqrt rule
# (2e-4) is the conservative alternative. auto_scale_lr's base is 256 here,
# so `--auto-scale-lr` on another total batch (e.g. 8 GPUs x 256) rescales
# from this lr.
# bf16 has float32's range, so no loss scaling (and none of its per-step
# inf checks) is needed.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale=dict(enabled=False),
    optimizer=dict(type='Adam', lr=4e-4, weight_decay=1e-4, fused=True))
auto_scale_lr = dict(base_batch_size=256)

compile = True
