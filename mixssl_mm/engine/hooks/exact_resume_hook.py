# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Bit-exact ``--resume``: random states in checkpoints, seen batches skipped.

Stock mmengine 0.10.7 saves model, optimizer, schedulers and message hub, but
not the random number generators, and its ``EpochBasedTrainLoop`` restarts a
half-done epoch from its first batch. A resumed run therefore draws other
λ's (torch's generator), other auxiliary images and augmentations (numpy's)
and trains some batches twice. :class:`ExactResumeHook` fixes both; see
docs/reliability.md for what is guaranteed under which configuration.
"""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop

from mmpretrain.registry import HOOKS

RNG_KEY = 'rng_state'


def capture_rng_state() -> dict:
    """The python, numpy, torch (and CUDA) generator states of this process,
    as plain types that weights-only loading accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=(name, keys.tolist(), int(pos), int(has_gauss), float(gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state(
        (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda']
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


class _SkipSampler:
    """Wraps a batch sampler's index sampler for one resumed epoch: drops the
    indices of the batches trained before the interruption and restores the
    random states when the data loader asks for its first index, i.e. after
    the loader's iterator was created (which draws from torch's generator)
    and before the first sample is loaded."""

    def __init__(self, sampler, skip: int, on_start) -> None:
        self.sampler = sampler
        self.skip = skip
        self.on_start = on_start

    def __iter__(self):
        self.on_start()
        for i, idx in enumerate(self.sampler):
            if i >= self.skip:
                yield idx

    def __len__(self) -> int:
        return len(self.sampler)

    def __getattr__(self, name):
        return getattr(self.sampler, name)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make ``--resume`` continue a run exactly where it stopped.

    - Saves the python / numpy / torch (and CUDA) random states of every rank
      into each checkpoint (``checkpoint['rng_state']``) and restores them on
      resume, at the moment the interrupted run would have drawn next. This
      covers MixSSL's per-batch λ (torch's generator), the auxiliary pairing
      of ``CrossDomainMixup`` and the augmentations (numpy's, in the main
      process with ``num_workers=0``).
    - With ``EpochBasedTrainLoop`` and iteration checkpoints
      (``CheckpointHook(by_epoch=False, interval=N)``), resuming in the
      middle of an epoch skips the batches that epoch already trained,
      without loading them, instead of training the epoch again from its
      first batch.
    - Keeps validation from changing the training random stream (the states
      are saved before and restored after each validation), so a run resumed
      from an epoch-end checkpoint does not depend on whether validation ran.

    Use it with ``randomness=dict(seed=..., deterministic=True)``; add it as
    ``default_hooks = dict(exact_resume=dict(type='ExactResumeHook'))`` or
    in ``custom_hooks``. It does nothing when a run is not resumed, besides
    the small state copy at each checkpoint.
    """

    # after the hooks that may draw in after_train_iter, before
    # CheckpointHook (VERY_LOW = 90), whose save it must see
    priority = 85

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._gathered: Optional[List[dict]] = None
        self._gathered_at = None
        self._val_stash: Optional[dict] = None
        self._val_gathered: Optional[List[dict]] = None
        self._installed = None

    # -- saving ---------------------------------------------------------
    @staticmethod
    def _checkpoint_hooks(runner) -> List[CheckpointHook]:
        return [h for h in runner.hooks if isinstance(h, CheckpointHook)]

    def _gather(self, runner, phase: str) -> None:
        """Distributed runs: collect every rank's state on all ranks when a
        checkpoint is about to be saved (only rank 0 writes it)."""
        self._gathered = all_gather_object(capture_rng_state())
        self._gathered_at = (phase, runner.iter, runner.epoch)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if get_world_size() == 1:
            return
        if any(not h.by_epoch and (
                h.every_n_train_iters(runner, h.interval, h.save_begin)
                or (h.save_last and h.is_last_train_iter(runner)))
               for h in self._checkpoint_hooks(runner)):
            self._gather(runner, 'iter')

    def after_train_epoch(self, runner) -> None:
        self._uninstall(runner)
        if get_world_size() == 1:
            return
        if any(h.by_epoch and (
                h.every_n_epochs(runner, h.interval, h.save_begin)
                or (h.save_last and h.is_last_train_epoch(runner)))
               for h in self._checkpoint_hooks(runner)):
            self._gather(runner, 'epoch')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        world_size = get_world_size()
        if self._val_stash is not None:  # a best checkpoint, saved in val
            states = self._val_gathered or [self._val_stash]
        elif world_size == 1:
            states = [capture_rng_state()]
        elif self._gathered is not None and self._gathered_at[1:] == (
                runner.iter, runner.epoch):
            states = self._gathered
        else:
            runner.logger.warning(
                'ExactResumeHook: this checkpoint was saved outside the '
                'CheckpointHook schedule; only rank 0 random states are in '
                'it, so a resume from it is not exact on the other ranks.')
            states = [capture_rng_state()] + [None] * (world_size - 1)
        checkpoint[RNG_KEY] = dict(world_size=world_size, ranks=states)

    # -- validation leaves the training stream alone ----------------------
    def before_val(self, runner) -> None:
        self._val_stash = capture_rng_state()
        if get_world_size() > 1:
            self._val_gathered = all_gather_object(self._val_stash)

    def after_val(self, runner) -> None:
        if self._val_stash is not None:
            restore_rng_state(self._val_stash)
        self._val_stash = self._val_gathered = None

    # -- resuming -------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from / fine-tuning: a new run, keep its seed
        saved = checkpoint.get(RNG_KEY)
        if saved is None:
            runner.logger.warning(
                'ExactResumeHook: the checkpoint has no random states (it was '
                'written without ExactResumeHook); the resumed run continues '
                'but is not bit-exact.')
            return
        rank, world_size = get_rank(), get_world_size()
        if saved['world_size'] != world_size:
            runner.logger.warning(
                f'ExactResumeHook: the checkpoint was written by '
                f'{saved["world_size"]} processes, this run has {world_size};'
                ' random states are not restored, so the resumed run is not '
                'bit-exact.')
            return
        self._pending = saved['ranks'][rank]
        if self._pending is None:
            runner.logger.warning(
                f'ExactResumeHook: no random state for rank {rank} in the '
                'checkpoint; this rank continues from its seed.')

    def _restore_pending(self) -> None:
        if self._pending is not None:
            restore_rng_state(self._pending)
            self._pending = None

    def before_train_epoch(self, runner) -> None:
        if self._pending is None:
            return
        loop = runner.train_loop
        loader = loop.dataloader
        if not isinstance(loop, EpochBasedTrainLoop):
            runner.logger.warning(
                f'ExactResumeHook: {type(loop).__name__} replays the batches '
                'it skips through the data pipeline on resume, which draws '
                'from the restored random states; the resumed run is not '
                'bit-exact. Use EpochBasedTrainLoop with CheckpointHook('
                'by_epoch=False, interval=N) for exact mid-epoch resume.')
            self._restore_pending()
            return
        done = loop.iter - loop.epoch * len(loader)
        fresh_iterator = not (loader.persistent_workers
                              and loader.num_workers > 0)
        if done == 0 and fresh_iterator:
            # as in the uninterrupted run: the iterator of this epoch is
            # created (one draw from torch's generator) after the states
            self._restore_pending()
            return
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if (not 0 <= done <= len(loader) or batch_sampler is None
                or not hasattr(batch_sampler, 'sampler')):
            runner.logger.warning(
                f'ExactResumeHook: cannot skip {done} batches of epoch '
                f'{loop.epoch + 1} with this data loader; the epoch is '
                'trained from its start and the run is not bit-exact.')
            self._restore_pending()
            return
        skip = done * batch_sampler.batch_size
        runner.logger.info(
            f'ExactResumeHook: resuming inside epoch {loop.epoch + 1}: '
            f'skipping its first {done} batches ({skip} samples per rank), '
            'which were trained before the interruption.')
        self._installed = (batch_sampler, batch_sampler.sampler)
        batch_sampler.sampler = _SkipSampler(batch_sampler.sampler, skip,
                                             self._restore_pending)

    def _uninstall(self, runner) -> None:
        if self._installed is not None:
            batch_sampler, sampler = self._installed
            batch_sampler.sampler = sampler
            self._installed = None
