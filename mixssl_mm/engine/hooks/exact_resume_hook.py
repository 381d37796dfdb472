# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Bit-exact ``--resume``: random states in checkpoints, seen batches skipped.

Stock mmengine 0.10.7 saves model, optimizer, schedulers and message hub, but
not the random number generators, and its ``EpochBasedTrainLoop`` restarts a
half-done epoch from its first batch. A resumed run therefore draws other
λ's (torch's generator), other auxiliary images and augmentations (numpy's)
and trains some batches twice. :class:`ExactResumeHook` fixes both; see
docs/reliability.md for what is guaranteed under which configuration.

What an epoch has trained is recorded in samples (per rank and in total,
``checkpoint['trained_samples']``), not in batches, so a resume with another
batch size or process count skips exactly the samples trained before, or,
where that cannot be mapped, says so and trains the epoch from its start as
stock mmengine does.
"""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

RNG_KEY = 'rng_state'
SAMPLES_KEY = 'trained_samples'


def batch_length(data_batch, default: int) -> int:
    """The number of samples in a collated batch (``default`` when it cannot
    be told)."""
    if isinstance(data_batch, dict):
        for key in ('data_samples', 'inputs'):
            value = data_batch.get(key)
            if isinstance(value, (list, tuple)) and value:
                return len(value)
            if hasattr(value, 'shape') and len(value.shape):
                return int(value.shape[0])
    return default


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
        self._epoch_samples = 0  # this rank's samples of the current epoch
        self._progress: Optional[dict] = None  # SAMPLES_KEY of a resume
        self._resuming = False

    # -- saving ---------------------------------------------------------
    @staticmethod
    def _checkpoint_hooks(runner) -> List[CheckpointHook]:
        return [h for h in runner.hooks if isinstance(h, CheckpointHook)]

    def _state(self) -> dict:
        return dict(capture_rng_state(), samples=self._epoch_samples)

    def _gather(self, runner, phase: str) -> None:
        """Distributed runs: collect every rank's state (and samples trained
        this epoch) on all ranks when a checkpoint is about to be saved (only
        rank 0 writes it)."""
        self._gathered = all_gather_object(self._state())
        self._gathered_at = (phase, runner.iter, runner.epoch)

    @staticmethod
    def _batch_size(runner) -> Optional[int]:
        loader = runner.train_loop.dataloader
        return getattr(loader, 'batch_size', None)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._epoch_samples += batch_length(data_batch,
                                            self._batch_size(runner) or 0)
        if get_world_size() == 1:
            return
        if any(not h.by_epoch and (
                h.every_n_train_iters(runner, h.interval, h.save_begin) or
            (h.save_last and h.is_last_train_iter(runner)))
               for h in self._checkpoint_hooks(runner)):
            self._gather(runner, 'iter')

    def after_train_epoch(self, runner) -> None:
        self._uninstall(runner)
        if get_world_size() == 1:
            return
        if any(
                h.by_epoch and (
                    h.every_n_epochs(runner, h.interval, h.save_begin) or
                    (h.save_last and h.is_last_train_epoch(runner)))
                for h in self._checkpoint_hooks(runner)):
            self._gather(runner, 'epoch')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        world_size = get_world_size()
        if self._val_stash is not None:  # a best checkpoint, saved in val
            states = self._val_gathered or [self._val_stash]
        elif world_size == 1:
            states = [self._state()]
        elif self._gathered is not None and self._gathered_at[1:] == (
                runner.iter, runner.epoch):
            states = self._gathered
        else:
            runner.logger.warning(
                'ExactResumeHook: this checkpoint was saved outside the '
                'CheckpointHook schedule; only rank 0 random states are in '
                'it, so a resume from it is not exact on the other ranks.')
            states = [self._state()] + [None] * (world_size - 1)
        samples = [None if s is None else s.get('samples') for s in states]
        states = [
            None if s is None else {
                k: v
                for k, v in s.items() if k != 'samples'
            } for s in states
        ]
        checkpoint[RNG_KEY] = dict(world_size=world_size, ranks=states)
        epoch = (checkpoint.get('meta') or {}).get('epoch', runner.epoch)
        if epoch != runner.epoch:
            # saved at the end of an epoch (mmengine's meta names the next
            # one): nothing of that epoch is trained yet
            samples = [0] * world_size
        if all(isinstance(n, int) for n in samples):
            checkpoint[SAMPLES_KEY] = dict(
                epoch=epoch,
                batch_size=self._batch_size(runner),
                world_size=world_size,
                per_rank=samples,
                total=sum(samples))

    # -- validation leaves the training stream alone ----------------------
    def before_val(self, runner) -> None:
        self._val_stash = self._state()
        if get_world_size() > 1:
            self._val_gathered = all_gather_object(self._val_stash)

    def after_val(self, runner) -> None:
        if self._val_stash is not None:
            restore_rng_state(self._val_stash)  # 'samples' is not read
        self._val_stash = self._val_gathered = None

    # -- resuming -------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from / fine-tuning: a new run, keep its seed
        self._resuming = True
        self._progress = checkpoint.get(SAMPLES_KEY)
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

    def _samples_to_skip(self, runner, loader, batch_sampler) -> int:
        """This rank's samples of the resumed epoch that were trained before
        the interruption (0: train the epoch from its start)."""
        loop = runner.train_loop
        batch_size = batch_sampler.batch_size
        world_size, rank = get_world_size(), get_rank()
        progress = self._progress
        if progress is None:  # a checkpoint of an older version: batches
            done = loop.iter - loop.epoch * len(loader)
            if not 0 <= done <= len(loader):
                runner.logger.warning(
                    f'ExactResumeHook: cannot skip {done} batches of epoch '
                    f'{loop.epoch + 1}; the epoch is trained from its start '
                    'and the run is not bit-exact.')
                return 0
            return done * batch_size
        if progress['total'] == 0:
            return 0
        was = (f'{progress["world_size"]} process(es) x batch size '
               f'{progress["batch_size"]}')
        now = f'{world_size} process(es) x batch size {batch_size}'
        if progress['world_size'] == world_size:
            skip = progress['per_rank'][rank]
            if progress['batch_size'] != batch_size:
                runner.logger.warning(
                    f'ExactResumeHook: the checkpoint was written by {was}, '
                    f'this run has {now}. Epoch {loop.epoch + 1} had trained '
                    f'{skip} samples per rank ({progress["total"]} in all); '
                    'they are skipped by sample, and the rest of the epoch '
                    f'is trained in batches of {batch_size} (the run is not '
                    'bit-exact with either batch size; the iteration counter '
                    'and schedules count the new batches).')
            return skip
        sampler = getattr(batch_sampler, 'sampler', None)
        sampler = getattr(sampler, 'sampler', sampler)  # our wrapper
        total, per_rank = progress['total'], progress['per_rank']
        if (isinstance(sampler, DefaultSampler) and len(set(per_rank)) == 1
                and total % world_size == 0 and total <= sampler.total_size):
            # every old rank trained the same count k, i.e. the first
            # k * old_world_size positions of the epoch's shared order;
            # the new ranks take every world_size-th position of it
            skip = total // world_size
            runner.logger.warning(
                f'ExactResumeHook: the checkpoint was written by {was}, this '
                f'run has {now}. Epoch {loop.epoch + 1} had trained the '
                f'first {total} samples of its order; each rank skips '
                f'{skip} of them, and the rest of the epoch is trained once '
                '(random states are not restored: not bit-exact).')
            return skip
        runner.logger.warning(
            f'ExactResumeHook: the checkpoint was written by {was}, this run '
            f'has {now}. The {total} samples epoch {loop.epoch + 1} trained '
            'before the interruption cannot be mapped onto this run\'s '
            f'ranks ({per_rank} per rank, {type(sampler).__name__}), so the '
            'epoch is trained from its start, as stock mmengine does: those '
            f'samples are trained twice. Resume with {was} to continue '
            'exactly.')
        return 0

    def before_train_epoch(self, runner) -> None:
        self._epoch_samples = 0
        if not self._resuming:
            return
        self._resuming = False
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
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if batch_sampler is None or not hasattr(batch_sampler, 'sampler'):
            runner.logger.warning(
                f'ExactResumeHook: cannot skip the trained part of epoch '
                f'{loop.epoch + 1} with this data loader; the epoch is '
                'trained from its start and the run is not bit-exact.')
            self._restore_pending()
            return
        skip = self._samples_to_skip(runner, loader, batch_sampler)
        fresh_iterator = not (loader.persistent_workers
                              and loader.num_workers > 0)
        if skip == 0 and fresh_iterator:
            # as in the uninterrupted run: the iterator of this epoch is
            # created (one draw from torch's generator) after the states
            self._restore_pending()
            return
        if skip:
            runner.logger.info(
                f'ExactResumeHook: resuming inside epoch {loop.epoch + 1}: '
                f'skipping its first {skip} samples per rank, which were '
                'trained before the interruption.')
        self._epoch_samples = skip
        self._installed = (batch_sampler, batch_sampler.sampler)
        batch_sampler.sampler = _SkipSampler(batch_sampler.sampler, skip,
                                             self._restore_pending)

    def _uninstall(self, runner) -> None:
        if self._installed is not None:
            batch_sampler, sampler = self._installed
            batch_sampler.sampler = sampler
            self._installed = None
