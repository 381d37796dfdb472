# Copyright (c) mixssl_mm contributors. All rights reserved.
"""SimCLR's NT-Xent (InfoNCE over the two views of a batch), shared by
:class:`MixCo` and :class:`MixSSL`'s contrastive objective. It is
mmpretrain's :meth:`SimCLR.loss` from the projections on: the same
``GatherLayer``, masks (``SimCLR._create_buffer``) and
``ContrastiveHead.loss``. No registered class lives here.
"""
import torch
from mmpretrain.models.selfsup.simclr import GatherLayer, SimCLR


def nt_xent(z1: torch.Tensor, z2: torch.Tensor,
            head: torch.nn.Module) -> torch.Tensor:
    """NT-Xent of two views, gathered across ranks as in SimCLR.

    For each of the 2N projections, the other view of the same image is the
    positive and the other 2N − 2 projections are the negatives::

        L = mean_a −log( exp(s(a, a⁺)/τ) / Σ_{k ≠ a} exp(s(a, k)/τ) )

    Args:
        z1 (torch.Tensor): L2-normalised projections of view 1, (N, d).
        z2 (torch.Tensor): L2-normalised projections of view 2, (N, d).
        head (nn.Module): A ``ContrastiveHead``: τ and the loss (its
            ``CrossEntropyLoss`` and ``loss_weight``).

    Returns:
        torch.Tensor: The (weighted) scalar loss.
    """
    z = torch.stack([z1, z2], dim=1).reshape(2 * z1.size(0), -1)
    z = torch.cat(GatherLayer.apply(z), dim=0)  # (2N)xd, pairs 2i, 2i+1
    n = z.size(0) // 2
    s = torch.matmul(z, z.permute(1, 0))
    mask, pos_idx, neg_mask = SimCLR._create_buffer(n, s.device)
    s = torch.masked_select(s, mask == 1).reshape(s.size(0), -1)
    positive = s[pos_idx].unsqueeze(1)
    negative = torch.masked_select(s, neg_mask == 1).reshape(s.size(0), -1)
    return head.loss(positive, negative)
