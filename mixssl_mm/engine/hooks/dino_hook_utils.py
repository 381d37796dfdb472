# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What the DINO hooks share: a length of training given in epochs or as a
fraction of the run, turned into iterations once the runner knows its
length; and finding the DINO part a hook acts on. Registers nothing."""
from typing import Optional

from mmengine.model import is_model_wrapper


def check_length(ratio: Optional[float], epochs: Optional[float], owner: str,
                 ratio_key: str, epochs_key: str) -> None:
    """Refuse a length that is given twice, negative, or a ratio above 1.

    Raises:
        ValueError: Naming ``owner`` and the offending config key.
    """
    if ratio is not None and epochs is not None:
        raise ValueError(f'{owner}: give {ratio_key} or {epochs_key}, not '
                         f'both (got {ratio} and {epochs}).')
    if ratio is not None and not 0 <= float(ratio) <= 1:
        raise ValueError(f'{owner}: {ratio_key} is a fraction of the run, '
                         f'in [0, 1]; got {ratio}.')
    if epochs is not None and not float(epochs) >= 0:
        raise ValueError(f'{owner}: {epochs_key} must be >= 0, got '
                         f'{epochs}.')


def length_in_iters(runner, ratio: Optional[float],
                    epochs: Optional[float]) -> int:
    """``ratio · max_iters`` or ``epochs · len(train_dataloader)``, rounded
    to the nearest iteration (0 if both are None).

    ``len(train_dataloader)`` is the iterations of one epoch on each rank
    (mmengine's ``DefaultSampler`` gives every rank the same number), so the
    result is the same on every rank, and for a run scaled down by
    ``--cfg-options train_cfg.max_epochs=...`` or a smaller dataset the
    ``ratio`` form shrinks with it.
    """
    if ratio is not None:
        return int(float(ratio) * runner.max_iters + 0.5)
    if epochs is not None:
        return int(float(epochs) * len(runner.train_dataloader) + 0.5)
    return 0


def dino_part(runner, part: str, needs: str, expected: str, owner: str):
    """The ``part`` (e.g. ``'neck'``) of the runner's model, unwrapped from
    DDP.

    Raises:
        TypeError: The part lacks the attribute ``needs`` (it is not the
            ``expected`` class), naming ``owner``.
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    module = getattr(model, part, None)
    if not hasattr(module, needs):
        raise TypeError(
            f'{owner} needs a DINO model whose {part} is a {expected} (with '
            f'{needs}), but the {part} is {type(module).__name__}; remove '
            'the hook from custom_hooks.')
    return module
