# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Reading checkpoints and comparing their keys with a model's.

The one home of: the state dict of a loaded checkpoint, the listing of
missing / unexpected / shape-mismatched keys, and the parsing of torch's
weights-only refusal (which global a file asked for). Used by the pre-flight
checks (:mod:`mixssl_mm.preflight.checkpoints`), the ResNet converter
(:mod:`mixssl_mm.converters.resnet`) and the short refusal message of
:mod:`mixssl_mm.compat`.
"""
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Tuple

__all__ = [
    'NotACheckpointError', 'read_checkpoint', 'state_dict_of', 'compare_keys',
    'format_keys', 'mismatch_lines', 'refused_global', 'unpickler_reason',
    'run_checkpoints', 'pointed_checkpoint', 'latest_checkpoint',
    'checkpoint_error', 'newest_intact_checkpoint', 'trained_steps'
]

_BN_COUNT = 'num_batches_tracked'
_LAM_STATE = ('lam_sampler.seed', 'lam_sampler.rng_state')
# torch >= 2.6 words a refused global in one of these two ways
_REFUSED_GLOBAL = re.compile(r'GLOBAL (\S+) (?:was not an allowed global|'
                             r'whose module \S+ is blocked)')
_UNPICKLER_REASON = re.compile(r'WeightsUnpickler error: \s*([^\n]+)')


class NotACheckpointError(TypeError):
    """The file loads, but holds something other than a dict."""


def read_checkpoint(path: str) -> dict:
    """Load a local checkpoint on the CPU through mmengine (so the plugin's
    weights-only loading and its short refusal apply).

    Raises:
        NotACheckpointError: the file holds something other than a dict.
        Exception: whatever mmengine/torch raise for an unreadable file
            (``pickle.UnpicklingError``, ``RuntimeError``, ``EOFError``...).
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    # silent: the load that follows (init_cfg, load_from, --resume) logs the
    # path; logger=None would print() a second copy of that line
    checkpoint = _load_checkpoint(path, map_location='cpu', logger='silent')
    if not isinstance(checkpoint, dict):
        raise NotACheckpointError(
            f'{path} holds a {type(checkpoint).__name__}, not a '
            'checkpoint dict or state_dict.')
    return checkpoint


def state_dict_of(checkpoint: dict) -> dict:
    """The ``state_dict`` entry (or the dict itself), without the
    ``module.`` prefix that ``DataParallel``/DDP add to every key."""
    state = checkpoint.get('state_dict', checkpoint)
    return {
        (k[7:] if k.startswith('module.') else k): v
        for k, v in state.items()
    }


def compare_keys(expected: Dict,
                 given: Dict) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape mismatches)`` of the state dict
    ``given`` against ``expected`` (e.g. a module's ``state_dict()``).

    ``missing`` and ``unexpected`` are sorted; BatchNorm
    ``num_batches_tracked`` counters are never missing (torch fills them),
    nor is MixSSL's λ generator state (``lam_sampler.seed`` /
    ``.rng_state``: absent from checkpoints written before it existed,
    which load without it; its size depends on the generator's device and
    is 0 before the first draw, so it has no shape to compare either).
    Shape mismatches read ``'<key> <given shape> vs <expected shape>'``, in
    the order of ``expected``.
    """
    missing = sorted(
        k for k in expected
        if k not in given and not k.endswith((_BN_COUNT, ) + _LAM_STATE))
    unexpected = sorted(k for k in given if k not in expected)
    shapes = [
        f'{k} {tuple(given[k].shape)} vs {tuple(v.shape)}'
        for k, v in expected.items() if k in given
        and not k.endswith(_LAM_STATE)  # its size is the generator's
        and hasattr(given[k], 'shape') and hasattr(v, 'shape')
        and tuple(given[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, shapes


def format_keys(label: str, keys: Iterable[str], limit: int = 5) -> str:
    """``'  label: k1, k2, ... (N in all)'``: at most ``limit`` keys."""
    keys = list(keys)
    more = f' ... ({len(keys)} in all)' if len(keys) > limit else ''
    return f'  {label}: {", ".join(keys[:limit])}{more}'


def mismatch_lines(missing: Iterable[str],
                   unexpected: Iterable[str],
                   shapes: Iterable[str],
                   checkpoint: str = 'the checkpoint',
                   model: str = 'the model') -> str:
    """The result of :func:`compare_keys` as lines that say which side is
    which (``''`` when nothing differs), e.g.::

          missing keys (in the model, not in the checkpoint): head.fc.bias
          shape mismatches (checkpoint vs model):
            conv1.weight (64, 3, 7, 7) vs (16, 3, 7, 7)

    ``checkpoint`` and ``model`` name the two sides (e.g. ``'the file'``,
    ``'mmpretrain ResNet-50'``); every line ends with a newline.
    """
    lines = []
    for label, keys in ((f'missing keys (in {model}, not in {checkpoint})',
                         missing),
                        (f'unexpected keys (in {checkpoint}, not in {model})',
                         unexpected),
                        (f'shape mismatches ({checkpoint} vs {model})',
                         shapes)):
        keys = list(keys)
        if keys:
            lines.append(format_keys(label, keys) + '\n')
    return ''.join(lines)


def refused_global(error_text: str) -> Optional[str]:
    """The global (e.g. ``posix.system``, ``argparse.Namespace``) that
    weights-only loading refused, read off torch's ``UnpicklingError``
    text; None when the text names none (not a pickle, a damaged file)."""
    found = _REFUSED_GLOBAL.search(error_text)
    return found.group(1) if found else None


def unpickler_reason(error_text: str,
                     first_sentence: bool = False) -> Optional[str]:
    """The reason after ``WeightsUnpickler error:`` in torch's message (the
    rest of that line, or only its first sentence), or None."""
    found = _UNPICKLER_REASON.search(error_text)
    if found is None:
        return None
    reason = found.group(1)
    return reason.split('. ')[0] if first_sentence else reason


# -- checkpoints of a training run's work dir -------------------------------
_URI = re.compile(r'^[A-Za-z][\w+.-]*://')
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def run_checkpoints(work_dir: str) -> List[str]:
    """The ``epoch_N.pth`` / ``iter_N.pth`` files of ``work_dir`` (paths),
    newest first (by modification time, then by N)."""
    if not osp.isdir(work_dir):
        return []
    found = []
    for name in os.listdir(work_dir):
        match = _CKPT_NAME.match(name)
        path = osp.join(work_dir, name)
        if match and osp.isfile(path):
            found.append((osp.getmtime(path), int(match.group(2)), path))
    return [path for *_, path in sorted(found, reverse=True)]


def pointed_checkpoint(work_dir: str) -> Optional[str]:
    """The file ``<work_dir>/last_checkpoint`` names, when that file exists
    (also when the work dir was moved: then its namesake in ``work_dir``);
    a URI as written; None for a missing, empty or stale pointer."""
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    with open(save_file) as f:
        last = f.read().strip()
    if not last:
        return None
    if _URI.match(last) or osp.isfile(last):
        return last
    moved = osp.join(work_dir, osp.basename(last))
    return moved if osp.isfile(moved) else None


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """What ``--resume`` (auto) continues: the file ``last_checkpoint``
    names, else (a missing, empty or stale pointer, e.g. a run killed between
    writing a checkpoint and updating the pointer) the newest
    ``epoch_N.pth`` / ``iter_N.pth``; None when there is none.

    mmengine's ``find_latest_checkpoint`` reads only the pointer; this is the
    one home of the fallback (``mixssl_mm.compat`` routes mmengine's
    function here).
    """
    pointed = pointed_checkpoint(work_dir)
    if pointed is not None:
        return pointed
    found = run_checkpoints(work_dir)
    return found[0] if found else None


def checkpoint_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be loaded as a checkpoint of a training run
    (``'<error type>: <message>'``, e.g. a truncated file), or None when it
    loads and holds ``meta`` with the epoch and iteration.

    It is read whole (through :func:`read_checkpoint`): a file whose zip
    directory is intact may still be cut inside a tensor.
    """
    try:
        checkpoint = read_checkpoint(path)
    except Exception as e:  # noqa: B902  any unreadable file
        text = str(e).strip().splitlines()
        return f'{type(e).__name__}: {text[0] if text else ""}'.rstrip(': ')
    if not {'epoch', 'iter'} <= set(checkpoint.get('meta') or {}):
        return 'no meta with the epoch and iteration (weights only)'
    return None


def newest_intact_checkpoint(
    work_dir: str, skip: Iterable[str] = ()) -> Optional[str]:
    """The newest ``epoch_N.pth`` / ``iter_N.pth`` of ``work_dir`` that
    :func:`checkpoint_error` accepts, leaving out the paths in ``skip``;
    None when there is none."""
    skip = {osp.abspath(p) for p in skip}
    for path in run_checkpoints(work_dir):
        if osp.abspath(path) not in skip and checkpoint_error(path) is None:
            return path
    return None


def trained_steps(checkpoint: dict) -> Optional[int]:
    """The iteration (optimizer steps taken) a training checkpoint was saved
    at (``meta['iter']``); None for a file without that meta (e.g. a
    converted or hand-made state dict). 0 marks a checkpoint of a run that
    never trained: its weights are the initial ones."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get('iter'), int) and \
            'epoch' in meta:
        return meta['iter']
    return None
