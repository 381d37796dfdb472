# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmpretrain.registry import HOOKS

from .dino_hook_utils import check_length, dino_part, length_in_iters


@HOOKS.register_module()
class DINOLastLayerFreezeHook(Hook):
    """Hold DINO's last layer still during the first part of training.

    DINO (Caron et al., ICCV 2021) trains with the weight-normalised last
    layer of its projection head fixed for the first epoch
    (``--freeze_last_layer 1``): after ``loss.backward()`` its
    ``cancel_gradients_last_layer`` sets the gradients of that layer to
    ``None``, so the optimizer step leaves it untouched. This hook does the
    same for :class:`DINO`: before each optimizer step of a frozen iteration
    (a ``torch.optim.Optimizer`` step pre-hook, i.e. after the backward
    pass, the DDP all-reduce and gradient clipping) it sets ``p.grad = None``
    for :meth:`DINONeck.last_layer_parameters`. The optimizer then skips
    those parameters entirely — no update, no momentum, no weight decay, no
    Adam state — so they stay bit-unchanged while frozen.

    The forward pass is left alone: the layer takes part in the loss and gets
    a gradient in every iteration, which DistributedDataParallel needs
    (a detached weight is a parameter without gradient, and DDP then fails
    at the second iteration).

    Iterations ``0 .. n - 1`` are frozen, with ``n`` from ``freeze_ratio``
    (a fraction of the run: ``round(freeze_ratio · max_iters)``) or
    ``freeze_epochs`` (``round(freeze_epochs · iterations per epoch)``); the
    ratio form scales with any change of the run length, e.g. the benchmark
    presets' shorter runs. With neither given, one epoch (DINO's default).

    Args:
        freeze_ratio (float, optional): Fraction of the run (in [0, 1]) with
            the last layer frozen. Defaults to None.
        freeze_epochs (float, optional): Epochs with the last layer frozen
            (may be fractional). Defaults to None, i.e. 1 when
            ``freeze_ratio`` is None too.

    Raises:
        ValueError: Both lengths given, a negative one, or a ratio above 1.
        TypeError: (at ``before_train``) the model's neck has no
            ``last_layer_parameters`` (not a :class:`DINONeck`).
    """

    priority = 'NORMAL'

    def __init__(self,
                 freeze_ratio: Optional[float] = None,
                 freeze_epochs: Optional[float] = None) -> None:
        check_length(freeze_ratio, freeze_epochs, 'DINOLastLayerFreezeHook',
                     'freeze_ratio', 'freeze_epochs')
        if freeze_ratio is None and freeze_epochs is None:
            freeze_epochs = 1
        self.freeze_ratio = freeze_ratio
        self.freeze_epochs = freeze_epochs
        self.freeze_iters = 0
        self.frozen = False
        self._params: List = []
        self._handles: List = []

    def before_train(self, runner) -> None:
        neck = dino_part(runner, 'neck', 'last_layer_parameters', 'DINONeck',
                         'DINOLastLayerFreezeHook')
        self._params = neck.last_layer_parameters()
        self.freeze_iters = length_in_iters(runner, self.freeze_ratio,
                                            self.freeze_epochs)
        wrappers = (
            runner.optim_wrapper.values() if isinstance(
                runner.optim_wrapper, OptimWrapperDict) else
            [runner.optim_wrapper])
        self._handles = [
            w.optimizer.register_step_pre_hook(self._drop_grads)
            for w in wrappers
        ]
        runner.logger.info(
            f'DINOLastLayerFreezeHook: the last layer is frozen for the '
            f'first {self.freeze_iters} of {runner.max_iters} iterations.')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        self.frozen = runner.iter < self.freeze_iters

    def _drop_grads(self, optimizer, args, kwargs) -> None:
        # set to None, not zeroed: optimizers skip parameters without a
        # gradient, whereas a zero gradient still moves them through
        # momentum and weight decay
        if self.frozen:
            for p in self._params:
                p.grad = None

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
