# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The work dir of a training run: an earlier run's checkpoints are neither
overwritten silently nor deleted without ``--overwrite``, and a run that
fails before its first iteration leaves the work dir as it found it."""
import os
import os.path as osp
import shutil
import sys
from typing import List

from mixssl_mm.utils.paths import file_in_the_way
from .error import ConfigError

__all__ = [
    'existing_checkpoints', 'check_work_dir', 'check_work_dir_is_folder',
    'delete_for_overwrite', 'WorkDirGuard'
]


def _rank() -> int:
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0)))


def existing_checkpoints(work_dir: str) -> List[str]:
    """Names of the checkpoint files (and ``last_checkpoint``) in
    ``work_dir``, sorted; empty when it does not exist."""
    if not osp.isdir(work_dir):
        return []
    return sorted(
        n for n in os.listdir(work_dir) if n == 'last_checkpoint' or (
            n.endswith('.pth') and osp.isfile(osp.join(work_dir, n))))


def check_work_dir_is_folder(cfg) -> None:
    """The work dir must be a folder or creatable as one (mmengine would
    fail with a raw ``FileExistsError`` / ``NotADirectoryError`` after the
    model is built).

    Raises:
        ConfigError: naming the file in the way.
    """
    path = file_in_the_way(cfg.work_dir) if cfg.get('work_dir') else None
    if path is not None:
        raise ConfigError(
            f'work_dir {cfg.work_dir}: {path} is a file, not a folder. Give '
            '--work-dir a folder (it is created when missing), or move the '
            'file.')


def check_work_dir(cfg, overwrite: bool) -> List[str]:
    """A fresh run must not silently overwrite an earlier run's checkpoints.

    Returns:
        The checkpoint files that ``--overwrite`` is to delete.

    Raises:
        ConfigError: checkpoints there, without ``--resume`` or
            ``--overwrite``; a work dir that is a file.
    """
    check_work_dir_is_folder(cfg)
    if cfg.get('resume'):
        return []
    work_dir = osp.abspath(cfg.work_dir)
    found = existing_checkpoints(work_dir)
    if not found or overwrite:
        return [osp.join(work_dir, name) for name in found]
    shown = ', '.join(found[:4]) + (' ...' if len(found) > 4 else '')
    raise ConfigError(
        f'{work_dir} already holds checkpoints of an earlier run ({shown}). '
        'Not overwriting them: pass --resume to continue that run, '
        '--work-dir DIR to start a new run elsewhere, or --overwrite to '
        'delete them and start over.')


def delete_for_overwrite(paths: List[str]) -> None:
    """``--overwrite``: delete the earlier run's checkpoints (rank 0 only),
    once every pre-flight check has passed."""
    if not paths or _rank() != 0:
        return
    for path in paths:
        if osp.isfile(path):
            os.remove(path)
    print(
        'tools/train.py: --overwrite: deleted '
        f'{", ".join(osp.basename(p) for p in paths)} in '
        f'{osp.dirname(paths[0])}',
        file=sys.stderr)


class WorkDirGuard:
    """Remove what a run created in its work dir if it fails before its first
    training iteration completes: the Runner makes ``<work_dir>/<timestamp>/``
    and dumps the config as soon as it is constructed.

    Use as a context manager around building and running the Runner, with
    :meth:`hook` registered on it (it counts completed iterations).
    """

    def __init__(self,
                 work_dir: str,
                 tool: str = 'tools/train.py',
                 when: str = 'before its first iteration') -> None:
        self.work_dir = osp.abspath(work_dir)
        # the clean-up message: '<tool>: the run failed <when>; removed ...'
        self.tool, self.when = tool, when
        self.existed = osp.isdir(self.work_dir)
        self.before = set(os.listdir(self.work_dir)) if self.existed else set()
        self.iters_done = 0

    def hook(self):
        from mmengine.hooks import Hook
        guard = self

        class _FirstIterDone(Hook):
            priority = 'LOWEST'

            def after_train_iter(self,
                                 runner,
                                 batch_idx,
                                 data_batch=None,
                                 outputs=None):
                guard.iters_done += 1

        return _FirstIterDone()

    def cleanup(self) -> List[str]:
        """Remove every entry created since construction (and the work dir
        itself if it did not exist); return what was removed."""
        if not osp.isdir(self.work_dir):
            return []
        removed = []
        for name in sorted(set(os.listdir(self.work_dir)) - self.before):
            path = osp.join(self.work_dir, name)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass
            removed.append(name)
        if not self.existed:
            try:
                os.rmdir(self.work_dir)
                removed.append(self.work_dir)
            except OSError:
                pass
        return removed

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.iters_done == 0:
            removed = self.cleanup()
            if removed:
                print(
                    f'{self.tool}: the run failed {self.when}; removed '
                    f'what it had created in '
                    f'{self.work_dir}: {", ".join(removed)}',
                    file=sys.stderr)
        return False
