# Copyright (c) mixssl_mm contributors. All rights reserved.
"""MixSSL's mixing weights λ ~ Beta(α, α), drawn on the device with a
generator of the model's own, checkpointed with the model.

Why a generator of its own: the draws then do not depend on how many random
numbers anything else (augmentation, dropout, a visualisation hook) took
from torch's global generators, every rank can be given the same stream,
and its state travels in the model's ``state_dict`` (``lam_sampler.seed``,
``lam_sampler.rng_state``), so
a resumed run continues the λ sequence exactly. No registered class lives
here.
"""
import math
import warnings
from typing import Optional

import torch
from mmengine.dist import (broadcast_object_list, get_rank, get_world_size,
                           is_distributed)
from torch import nn

LAM_MODES = ('sample', 'batch')
# XOR-ed into the run seed so that λ does not replay the numbers that the
# global generator, seeded with the same run seed, hands to everything else
_SALT = 0x4D697853534C  # 'MixSSL'


def run_seed() -> int:
    """The run's seed as mmengine set it (``randomness.seed``, or the seed
    mmengine drew and synchronised when none was set): torch's initial CPU
    seed, taken from rank 0 so that all ranks agree even with
    ``diff_rank_seed=True``."""
    seed = [torch.initial_seed()]
    if is_distributed():
        broadcast_object_list(seed, src=0)
    return int(seed[0])


def sample_beta(alpha: float, n: int, generator: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """``n`` draws of Beta(α, α) as ``X / (X + Y)`` with X, Y ~ Gamma(α),
    using only ``generator`` (torch's own Beta/Gamma samplers take no
    generator). Gamma by Marsaglia & Tsang, "A simple method for generating
    gamma variables", ACM TOMS 26(3), 2000; for α < 1 with their boost
    Gamma(α) = Gamma(α + 1)·U^(1/α). Computed in float64 (CPU and CUDA)
    so that small α does not underflow. Returns shape (n, ), float32."""
    dtype = torch.float32 if device.type == 'mps' else torch.float64
    a = alpha + 1.0 if alpha < 1 else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    need = 2 * n
    gamma = torch.empty(0, dtype=dtype, device=device)
    while gamma.numel() < need:
        # acceptance is > 95 % for a >= 1: one round almost always suffices
        m = 2 * (need - gamma.numel()) + 16
        x = torch.randn(m, generator=generator, device=device, dtype=dtype)
        u = torch.rand(m, generator=generator, device=device, dtype=dtype)
        v = (1 + c * x)**3
        ok = (v > 0) & (
            torch.log(u)
            < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        gamma = torch.cat([gamma, (d * v)[ok]])
    gamma = gamma[:need]
    if alpha < 1:
        u = torch.rand(need, generator=generator, device=device, dtype=dtype)
        gamma = gamma * u.pow(1.0 / alpha)
    x, y = gamma[:n], gamma[n:]
    lam = x / (x + y)
    # both Gammas can underflow together for tiny α: λ is then 0 or 1 with
    # equal odds (the limit of Beta(α, α) as α -> 0)
    lam = torch.where(torch.isfinite(lam), lam, (x >= y).to(dtype))
    return lam.float()


class LambdaSampler(nn.Module):
    """λ for each sample of a batch: ``(1 - λ)·x_t + λ·x_a``, λ being the
    weight of the auxiliary (partner) image, as in the paper.

    Args:
        alpha (float): λ ~ Beta(α, α). Defaults to 1.0 (uniform; the
            paper's).
        lam_mode (str): ``'sample'``: one λ per sample, drawn for the
            global batch (world size x N) and dealt to the ranks as
            ``DefaultSampler`` deals the samples (rank r takes r, r + W,
            ...), so ``2 x bs32`` mixes each image with exactly the λ of
            ``1 x bs64``.
            ``'batch'``: one λ shared by the whole global batch (the paper's
            reading, which lets BatchNorm's batch statistics reveal λ; see
            configs/mixssl/README.md). Defaults to ``'sample'``.
        fixed_lam (float, optional): A constant λ in [0, 1] (an ablation);
            nothing is drawn. Defaults to None.
        seed (int, optional): The generator's seed. Defaults to None: the
            run's seed (:func:`run_seed`) at build time.

    The generator lives on the device of the first draw (a CPU and a CUDA
    generator give different streams from one seed). Its seed and state are
    in ``state_dict()`` as ``<prefix>seed`` (int64) and ``<prefix>rng_state``
    (uint8; empty before the first draw); a checkpoint without them (written
    before this class existed) loads, keeping the seeded stream.
    """

    def __init__(self,
                 alpha: float = 1.0,
                 lam_mode: str = 'sample',
                 fixed_lam: Optional[float] = None,
                 seed: Optional[int] = None,
                 owner: str = 'MixSSL'):
        super().__init__()
        check_lam_args(alpha, lam_mode, fixed_lam, owner)
        self.alpha = float(alpha)
        self.lam_mode = lam_mode
        self.fixed_lam = None if fixed_lam is None else float(fixed_lam)
        # the state_dict keeps the seed as an int64 tensor; torch's own
        # initial seed, in a process nobody seeded, is a uint64 that may not
        # fit (state_dict() then failed about every other time)
        self.seed = (run_seed() if seed is None else int(seed)) % 2**63
        self._generator: Optional[torch.Generator] = None
        self._pending_state: Optional[dict] = None

    def _get_generator(self, device: torch.device) -> torch.Generator:
        g = self._generator
        if g is not None and g.device.type == device.type:
            return g
        g = torch.Generator(device=device)
        g.manual_seed(self.seed ^ _SALT)
        pending, self._pending_state = self._pending_state, None
        if pending is not None:
            try:
                g.set_state(pending)
            except RuntimeError as e:  # e.g. a CUDA state on a CPU run
                warnings.warn(
                    'LambdaSampler: the checkpoint\'s λ generator state does '
                    f'not fit a {device.type} generator ({e}); the λ stream '
                    f'restarts from the seed {self.seed} instead of resuming '
                    'exactly.')
        self._generator = g
        return g

    def forward(self,
                batch_size: int,
                device: torch.device,
                world_size: Optional[int] = None,
                rank: Optional[int] = None) -> torch.Tensor:
        """λ for this rank's ``batch_size`` samples, shape (N, ), float32.

        ``world_size`` / ``rank`` default to mmengine's; every rank draws
        the same global batch and keeps its share, so ranks advance their
        generators identically."""
        device = torch.device(device)
        if self.fixed_lam is not None:
            return torch.full((batch_size, ), self.fixed_lam, device=device)
        world_size = get_world_size() if world_size is None else world_size
        rank = get_rank() if rank is None else rank
        g = self._get_generator(device)
        if self.lam_mode == 'batch':
            return sample_beta(self.alpha, 1, g, device).expand(batch_size)
        lam = sample_beta(self.alpha, world_size * batch_size, g, device)
        # interleaved as mmengine's DefaultSampler deals the global batch
        # (rank r takes samples r, r + W, ...): each image gets the λ it
        # would get in one process with the global batch size
        return lam[rank::world_size]

    # state_dict entries (tensors, so that code walking a checkpoint's
    # state_dict meets only tensors); not registered buffers, so that
    # ``.to(device)`` and DDP's buffer broadcast leave them alone
    STATE_KEYS = ('seed', 'rng_state')

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        g = self._generator
        if g is not None:
            state = g.get_state()
        elif self._pending_state is not None:
            state = self._pending_state
        else:  # nothing drawn yet: the seed alone
            state = torch.empty(0, dtype=torch.uint8)
        destination[prefix + 'seed'] = torch.tensor(self.seed)
        destination[prefix + 'rng_state'] = state.clone()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        keys = [prefix + k for k in self.STATE_KEYS]
        for key in keys:
            if key in unexpected_keys:
                unexpected_keys.remove(key)
        # checkpoints written before λ was drawn here have no state: they
        # load (strictly too), and the stream stays the seeded one
        if keys[0] not in state_dict:
            return
        self.seed = int(state_dict[keys[0]])
        state = state_dict.get(keys[1])
        self._generator = None  # rebuilt, with this state, at the next draw
        self._pending_state = (None if state is None or state.numel() == 0 else
                               state.detach().to('cpu', torch.uint8))

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, lam_mode={self.lam_mode!r}, '
                f'fixed_lam={self.fixed_lam}, seed={self.seed}')


def check_lam_args(alpha, lam_mode, fixed_lam, owner: str) -> None:
    """Refuse an unusable α, λ mode or fixed λ at build time."""
    if (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha) or alpha <= 0):
        raise ValueError(
            f'{owner}: alpha must be a finite number > 0 (λ ~ Beta(alpha, '
            f'alpha)), got {alpha!r}. Use alpha=1.0 for a uniform λ (the '
            'paper sets α = 1).')
    if lam_mode not in LAM_MODES:
        raise ValueError(f'{owner}: lam_mode must be one of {LAM_MODES}, '
                         f'got {lam_mode!r}.')
    if fixed_lam is not None and (isinstance(fixed_lam, bool)
                                  or not isinstance(fixed_lam, (int, float))
                                  or not math.isfinite(fixed_lam)
                                  or not 0 <= fixed_lam <= 1):
        raise ValueError(
            f'{owner}: fixed_lam must be a number in [0, 1] (x_mix = '
            f'(1 - λ)·x_t + λ·x_a), got {fixed_lam!r}. Use e.g. '
            'fixed_lam=0.5, or leave it None to draw λ ~ Beta(alpha, alpha).')
