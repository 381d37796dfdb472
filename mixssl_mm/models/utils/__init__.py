# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Helpers of the algorithms that register nothing (as mmpretrain's
``models/utils``)."""
from .batch_mix import (check_mix_args, check_two_views, mix_batch,
                        sample_batch_mix)
from .lambda_sampler import LambdaSampler, sample_beta
from .nt_xent import nt_xent

__all__ = [
    'check_mix_args', 'check_two_views', 'mix_batch', 'sample_batch_mix',
    'LambdaSampler', 'sample_beta', 'nt_xent'
]
