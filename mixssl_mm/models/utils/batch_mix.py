# Copyright (c) mixssl_mm contributors. All rights reserved.
"""In-batch mix-up shared by :class:`MixupSimCLR` and :class:`MixCo`.

Each image ``x_i`` of a batch is mixed with a partner ``x_perm(i)`` drawn by
a random permutation of the batch::

    x_mix_i = (1 − λ_i)·x_i + λ_i·x_perm(i),      λ ~ Beta(α, α)

``λ`` is the weight of the partner, as MixSSL's λ is the auxiliary image's
(the paper's convention, one for the whole project). The draws use torch's
global CPU generator (seeded by mmengine), then move to the device, so they
do not depend on the device type. No registered class lives here.
"""
from typing import Sequence, Tuple

import torch

from .lambda_sampler import LAM_MODES, check_lam_args

__all__ = [
    'LAM_MODES', 'check_mix_args', 'check_two_views', 'sample_batch_mix',
    'mix_batch'
]


def check_mix_args(alpha: float, lam_mode: str, owner: str) -> None:
    """Refuse an unusable α or λ mode at build time."""
    check_lam_args(alpha, lam_mode, None, owner)


def check_two_views(inputs: Sequence[torch.Tensor], owner: str) -> None:
    """Refuse anything but ``[view1, view2]`` (mmpretrain's
    ``MultiView(num_views=2)``) with a ``TypeError`` naming ``owner``."""
    if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
        raise TypeError(f'{owner} expects inputs=[view1, view2] '
                        '(MultiView(num_views=2)), got '
                        f'{type(inputs).__name__}.')


def sample_batch_mix(
        batch_size: int, alpha: float, lam_mode: str,
        device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw the mixing weights and partners for one batch.

    Args:
        batch_size (int): N.
        alpha (float): λ ~ Beta(α, α).
        lam_mode (str): ``'batch'``: one λ for the whole batch (classic
            mix-up); ``'sample'``: one λ per image.
        device (torch.device): Where the returned tensors live.

    Returns:
        Tuple[Tensor, Tensor]: ``lam`` of shape (N, ) (float32), the
        partner's weight, and ``perm`` of shape (N, ) (long), the partner
        index of each image.
    """
    a = torch.tensor(float(alpha))
    beta = torch.distributions.Beta(a, a)
    if lam_mode == 'batch':
        lam = beta.sample().expand(batch_size)
    else:
        lam = beta.sample((batch_size, ))
    perm = torch.randperm(batch_size)
    # the draw is the image's own weight, as before λ meant the partner's:
    # the same seed gives the same mixes (up to float rounding)
    lam = 1 - lam
    return (lam.to(device=device, dtype=torch.float32), perm.to(device=device))


def mix_batch(x: torch.Tensor, lam: torch.Tensor,
              perm: torch.Tensor) -> torch.Tensor:
    """``(1 − λ_i)·x_i + λ_i·x_perm(i)`` for a batch ``x`` of shape
    (N, ...); λ is the partner's weight."""
    shape = (-1, ) + (1, ) * (x.dim() - 1)
    return torch.lerp(x, x[perm], lam.view(shape).to(x.dtype))
