# Copyright (c) mixssl_mm contributors. All rights reserved.
import math
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """Training stopped on a NaN or infinite loss or parameter."""


def _is_finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return True


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss, before it reaches a
    checkpoint.

    After every iteration the losses returned by ``train_step`` (``loss``,
    ``loss_rec``, ``loss_trans``, ...) are checked; a non-finite one raises
    :class:`NonFiniteLossError` with the iteration, the values and the last
    good checkpoint. The hook runs before ``CheckpointHook``, so the step
    that went wrong is never saved. With ``check_checkpoint`` it also
    refuses to write a checkpoint whose weights are not all finite (a finite
    loss can still be followed by an update that overflows).

    Args:
        check_checkpoint (bool): Check the weights of every checkpoint before
            it is written. Defaults to True.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, check_checkpoint: bool = True) -> None:
        self.check_checkpoint = check_checkpoint

    @staticmethod
    def _last_good(runner) -> Optional[str]:
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                return f.read().strip() or None
        return None

    def _fail(self, runner, what: str, iteration: int) -> None:
        last = self._last_good(runner)
        where = (f'The last good checkpoint is {last}; after the fix, '
                 'continue from it with --resume.' if last else
                 'No checkpoint was written before it; start again after '
                 'the fix.')
        raise NonFiniteLossError(
            f'{what} at iteration {iteration} (epoch {runner.epoch + 1}); '
            f'training stopped and this state was not saved. {where} Usual '
            'fixes: a lower learning rate, gradient '
            'clipping (optim_wrapper=dict(clip_grad=dict(max_norm=1.0))), '
            'or checking the data for NaN/inf values.')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        bad = {
            k: v
            for k, v in outputs.items() if 'loss' in k and not _is_finite(v)
        }
        if bad:
            # detached: the losses still carry their graph, and converting a
            # tensor that requires grad makes torch warn on every failure
            values = ', '.join(
                f'{k}={torch.as_tensor(v).detach().float().mean().item()}'
                for k, v in bad.items())
            self._fail(runner, f'non-finite loss ({values})', runner.iter + 1)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_checkpoint:
            return
        bad = [
            k for k, v in checkpoint.get('state_dict', {}).items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())
        ]
        if bad:
            self._fail(
                runner, f'non-finite weights ({len(bad)} tensors, e.g. '
                f'{bad[:3]})',
                checkpoint.get('meta', {}).get('iter', runner.iter))
