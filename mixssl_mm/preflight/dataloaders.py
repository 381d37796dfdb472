# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight resolution of dataloader options that contradict each other,
in ``train_dataloader``, ``val_dataloader`` and ``test_dataloader``.

torch's ``DataLoader`` refuses some combinations only when mmengine builds
it, after the Runner (model, hooks, work dir) exists: e.g. ``num_workers=0``
fails with ``persistent_workers option needs num_workers > 0`` even when the
config never set ``persistent_workers``, because mmpretrain's ``merge_args``
adds ``persistent_workers=True`` and ``pin_memory=True`` to every
dataloader. Here, before the Runner:

- options that only describe worker processes (``persistent_workers``,
  ``prefetch_factor``, ``multiprocessing_context``) are turned off when
  ``num_workers=0``: with no worker there is nothing for them to change, so
  this is lossless (and ``num_workers=0`` is what docs/reliability.md asks
  for a bit-exact resume);
- ``pin_memory`` is turned off when no accelerator is present (torch
  ignores it there, with a warning on every epoch);
- what cannot be resolved without guessing the intent is refused with the
  key to change: a negative ``num_workers``, a ``batch_size`` that is no
  whole number >= 1, no ``sampler``, ``shuffle`` next
  to the sampler mmengine always passes, ``drop_last`` next to a
  ``batch_sampler``.
"""
from .error import ConfigError

__all__ = ['LOADERS', 'WORKER_ONLY', 'has_accelerator', 'check_dataloaders']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# option -> its value without worker processes
WORKER_ONLY = dict(
    persistent_workers=False,
    prefetch_factor=None,
    multiprocessing_context=None)


def has_accelerator() -> bool:
    """A device that pinned memory speeds up transfers to (CUDA, or any
    accelerator torch knows of)."""
    import torch
    accelerator = getattr(torch, 'accelerator', None)
    if accelerator is not None and hasattr(accelerator, 'is_available'):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def _check_one(field: str, loader: dict, accelerator: bool) -> None:
    workers = loader.get('num_workers', 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or \
            workers < 0:
        raise ConfigError(
            f'{field}.num_workers={workers!r}: give a whole number >= 0 of '
            'worker processes (0: load in the main process).')
    batch = loader.get('batch_size', 1)
    if loader.get('batch_sampler') is None and (isinstance(
            batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ConfigError(
            f'{field}.batch_size={batch!r}: give a whole number >= 1 of '
            'samples per batch (per process).')
    if workers == 0:
        for key, off in WORKER_ONLY.items():
            if loader.get(key) not in (None, False):
                loader[key] = off
    if loader.get('pin_memory') and not accelerator:
        loader['pin_memory'] = False
    if loader.get('sampler') is None:
        raise ConfigError(
            f'{field} has no sampler; mmengine builds every dataloader with '
            f"one. Add {field}.sampler = dict(type='DefaultSampler', "
            f"shuffle={field == 'train_dataloader'}).")
    if 'shuffle' in loader:
        raise ConfigError(
            f'{field}.shuffle={loader["shuffle"]!r}: mmengine always passes '
            f'{field}.sampler to the DataLoader, and torch refuses a sampler '
            f'together with shuffle. Remove {field}.shuffle and set '
            f'{field}.sampler.shuffle={bool(loader["shuffle"])} instead.')
    if loader.get('batch_sampler') is not None and 'drop_last' in loader:
        raise ConfigError(
            f'{field}.drop_last: torch refuses drop_last together with a '
            f'batch_sampler. Remove {field}.drop_last and give the batch '
            f'sampler its own setting ({field}.batch_sampler.drop_last, if '
            'its type takes one).')


def check_dataloaders(cfg) -> None:
    """Resolve (in place) or refuse contradicting options of every
    dataloader of ``cfg`` (see the module docstring).

    Raises:
        ConfigError: naming the key to change.
    """
    accelerator = has_accelerator()
    for field in LOADERS:
        loader = cfg.get(field)
        if isinstance(loader, dict):
            _check_one(field, loader, accelerator)
