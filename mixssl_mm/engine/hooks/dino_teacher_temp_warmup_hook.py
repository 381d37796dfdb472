# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from .dino_hook_utils import check_length, dino_part, length_in_iters


@HOOKS.register_module()
class DINOTeacherTempWarmupHook(Hook):
    """Warm DINO's teacher temperature up, linearly per iteration.

    As mmpretrain's ``projects/dino`` hook of the same name, it sets
    ``DINOHead.teacher_temp`` before every training iteration; here the ramp
    is per iteration (DINO's own is per epoch)::

        τ_t(it) = w + min(it / n, 1) · (τ − w)

    with ``w = warmup_teacher_temp``, ``τ`` the head's configured
    ``teacher_temp`` (read once, at ``before_train``) and ``n`` iterations
    from ``warmup_ratio`` (``round(warmup_ratio · max_iters)``) or
    ``warmup_epochs`` (``round(warmup_epochs · iterations per epoch)``).
    With ``n = 0`` τ_t stays ``τ``.

    Args:
        warmup_teacher_temp (float): τ_t at iteration 0 (DINO: 0.04).
        warmup_ratio (float, optional): Warm-up length as a fraction of the
            run, in [0, 1]. Defaults to None.
        warmup_epochs (float, optional): Warm-up length in epochs. Defaults
            to None (no warm-up when ``warmup_ratio`` is None too).

    Raises:
        ValueError: ``warmup_teacher_temp <= 0``, both lengths given, a
            negative one, or a ratio above 1.
        TypeError: (at ``before_train``) the model's head has no
            ``teacher_temp`` (not a :class:`DINOHead`).
    """

    priority = 'NORMAL'

    def __init__(self,
                 warmup_teacher_temp: float,
                 warmup_ratio: Optional[float] = None,
                 warmup_epochs: Optional[float] = None) -> None:
        if not float(warmup_teacher_temp) > 0:
            raise ValueError('DINOTeacherTempWarmupHook: warmup_teacher_temp'
                             f' must be > 0, got {warmup_teacher_temp}.')
        check_length(warmup_ratio, warmup_epochs, 'DINOTeacherTempWarmupHook',
                     'warmup_ratio', 'warmup_epochs')
        self.warmup_teacher_temp = float(warmup_teacher_temp)
        self.warmup_ratio = warmup_ratio
        self.warmup_epochs = warmup_epochs
        self.warmup_iters = 0
        self.teacher_temp: Optional[float] = None
        self._head = None

    def before_train(self, runner) -> None:
        head = dino_part(runner, 'head', 'teacher_temp', 'DINOHead',
                         'DINOTeacherTempWarmupHook')
        self._head = head
        if self.teacher_temp is None:  # the configured τ, before any change
            self.teacher_temp = float(head.teacher_temp)
        self.warmup_iters = length_in_iters(runner, self.warmup_ratio,
                                            self.warmup_epochs)

    def temp_at(self, it: int) -> float:
        """τ_t of iteration ``it`` (0-based)."""
        if self.warmup_iters <= 0:
            return self.teacher_temp
        frac = min(float(it) / self.warmup_iters, 1.0)
        return self.warmup_teacher_temp + frac * (
            self.teacher_temp - self.warmup_teacher_temp)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        self._head.teacher_temp = self.temp_at(runner.iter)
