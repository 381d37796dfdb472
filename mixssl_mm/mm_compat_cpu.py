# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Two things mmengine 0.10.7 reserves for GPUs, made to work on a CPU-only
machine, so a config written for GPUs (the fast recipe, ``sync_bn='torch'``)
runs unchanged in a CPU test or a CPU launch. Applied on import by
:func:`mixssl_mm.mm_compat.apply_all`; nothing changes where CUDA is
available. Details: docs/distributed.md.

1. ``AmpOptimWrapper`` asserts a GPU/NPU/MLU/MUSA device. On a CPU-only
   machine it is built for bfloat16 (``dtype='bfloat16'`` or none given, as
   ``--amp`` leaves it): mmengine's own ``autocast`` already runs CPU
   autocast in bfloat16, and bfloat16 has float32's range, so the loss
   scaler is disabled (a disabled ``GradScaler`` steps the optimizer
   unchanged and saves an empty state). float16 on a CPU is still refused.
2. ``sync_bn='torch'`` converts BatchNorm layers to torch's
   ``SyncBatchNorm``, whose training forward refuses CPU tensors (and whose
   kernels, ``batch_norm_stats`` and friends, have no CPU implementation).
   Without CUDA the converted layers become :class:`CPUSyncBatchNorm`, a
   batch norm that computes the batch statistics over every rank
   with differentiable all-reduces: the same normalisation and gradients
   as one process with the whole batch.
"""
import torch

__all__ = ['CPUSyncBatchNorm', 'apply_cpu_fixes']


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks of ``group``; the backward pass sums the
    gradients the same way (each rank's input reaches every rank's loss).
    ``torch.distributed.nn.functional.all_reduce`` does this too but is
    deprecated, and its suggested successor has no backward."""

    @staticmethod
    def forward(ctx, tensor, group):
        import torch.distributed as dist
        ctx.group = group
        out = tensor.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class CPUSyncBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """``torch.nn.SyncBatchNorm`` for CPU tensors (e.g. under gloo).

    In training with an initialised process group the mean and the biased
    variance are taken over the inputs of all ranks of ``process_group``:
    two all-reduces (sums and count, then the centred sum of squares, which
    is steadier than E[x²] − E[x]²) whose backward all-reduces the
    gradients, so each input's gradient includes the other ranks' losses
    exactly as torch's CUDA SyncBatchNorm does. Running statistics are
    updated with the unbiased global variance, as ``BatchNorm`` does with
    the whole batch. Statistics are computed in float32 whatever the input
    dtype (bf16 autocast), and the output has the input's dtype. In eval
    mode, or without a process group, it is plain batch norm.

    Not a ``SyncBatchNorm`` subclass: DDP refuses any ``SyncBatchNorm`` in
    a CPU module. Same arguments, attributes and state dict keys as
    ``SyncBatchNorm``.

    Shapes: input and output ``(N, C, *)``.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats, device=device, dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(
                f'expected at least 2D input (got {input.dim()}D input)')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        if not (self.training and input.device.type == 'cpu'
                and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        if input.size(1) == 0:
            raise ValueError('CPUSyncBatchNorm number of input channels '
                             'should be non-zero')
        group = self.process_group or dist.group.WORLD
        x = input.float()
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.size(1)], dtype=x.dtype)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]), group)
        n = sums[-1]
        mean = sums[:-1] / n
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims), group) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.to(self.running_mean), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var),
                                       momentum)
        return out.to(input.dtype)


def _cpu_sync_bn_fix() -> None:
    import mmengine.model.utils as mu
    import mmengine.runner.runner as mrr

    stock = mu.convert_sync_batchnorm
    if getattr(mrr.convert_sync_batchnorm, '_mixssl_patched', False):
        return

    def convert_sync_batchnorm(module, implementation='torch'):
        module = stock(module, implementation)
        if implementation == 'torch' and not torch.cuda.is_available():
            # the same attributes, parameters and buffers as torch's
            for m in module.modules():
                if type(m) is torch.nn.SyncBatchNorm:
                    m.__class__ = CPUSyncBatchNorm
        return module

    convert_sync_batchnorm._mixssl_patched = True
    convert_sync_batchnorm.__doc__ = stock.__doc__
    mrr.convert_sync_batchnorm = convert_sync_batchnorm


def _cpu_amp_fix() -> None:
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    stock_init = AmpOptimWrapper.__init__
    if getattr(stock_init, '_mixssl_patched', False):
        return

    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp=False,
                 **kwargs):
        if torch.cuda.is_available() or dtype not in (None, 'bfloat16',
                                                      torch.bfloat16):
            return stock_init(self, loss_scale=loss_scale, dtype=dtype,
                              use_fsdp=use_fsdp, **kwargs)
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16

    __init__._mixssl_patched = True
    __init__.__doc__ = stock_init.__doc__
    AmpOptimWrapper.__init__ = __init__


def apply_cpu_fixes() -> None:
    """Apply both fixes (idempotent; no effect where CUDA is available)."""
    _cpu_amp_fix()
    _cpu_sync_bn_fix()
