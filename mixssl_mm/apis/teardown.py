# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The end of a completed run: data-loader workers and the process group are
shut down while the interpreter is still whole.

Why: a finished 2-process gloo run could end with one rank killed by
``terminate called without an active exception`` (SIGABRT) right after the
last checkpoint was saved, and torchrun then reported the whole job as
failed. mmpretrain's ``tools/train.py``/``test.py`` (and mmengine's Runner)
never call ``destroy_process_group``, so the gloo process group, its worker
threads and any work objects they still hold are torn down during
interpreter finalisation, in no fixed order; a native thread that is still
joinable, or a tensor freed on a gloo thread that needs the GIL after
finalisation began, aborts the process (the failure torch documents for a
missing ``destroy_process_group``; see docs/distributed.md). Persistent
data-loader workers (and the pin-memory thread) are likewise left to
``__del__`` at exit.

:func:`finish_run` is what ``mixssl_mm.apis.train``/``test`` call after a
run completed; after a failure they call nothing (a rank that is gone
would leave the others waiting in the barrier; torchrun ends them).
"""


def end_dataloader_workers() -> int:
    """Shut down the workers (and pin-memory thread) of every live
    multi-process ``DataLoader`` iterator in this process, e.g. the
    persistent ones the Runner's loops keep, and detach them from their
    loaders (a loader used again starts new workers).

    The iterators are found through the garbage collector, so this also
    reaches loaders built inside mmpretrain's own scripts, where no Runner
    is handed back. ``_shutdown_workers`` is what the iterator's
    ``__del__`` calls; it is idempotent.

    Returns:
        The number of iterators that had workers to shut down.
    """
    import gc

    from torch.utils.data import DataLoader
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter
    gc.collect()  # iterators only reachable from dead reference cycles
    # type(), not isinstance(): some module-level objects warn when their
    # __class__ is read (torch.distributed.reduce_op)
    live = []
    for obj in gc.get_objects():
        kind = type(obj)
        if issubclass(kind, DataLoader) and issubclass(
                type(obj.__dict__.get('_iterator')),
                _MultiProcessingDataLoaderIter):
            obj._iterator = None  # a persistent loader's kept iterator
        elif issubclass(kind, _MultiProcessingDataLoaderIter) \
                and not obj._shutdown:
            live.append(obj)
    for it in live:
        it._shutdown_workers()
    return len(live)


def end_process_group() -> bool:
    """Wait for every rank (so none tears down while another still saves or
    logs), then destroy the default process group and every other one.

    Returns:
        True when a process group was destroyed, False when none was
        initialised (a one-process run).
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True


def finish_run() -> None:
    """End a completed run cleanly: data-loader workers, then the process
    group."""
    end_dataloader_workers()
    end_process_group()
