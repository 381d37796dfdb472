# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Fixes for stock mmengine 0.10.7 on today's stack, applied on import.

Applied once by ``mixssl_mm/__init__.py``. The one fix that must be in place
before a config is parsed (2.) is also applied by ``mixssl_mm_startup``, the
start-up hook that ``pip install`` registers, so mmpretrain's own
``tools/train.py`` can read ``mmpretrain::`` bases before ``custom_imports``
runs. This module imports only the standard library at module level, so that
hook stays cheap. Each fix is idempotent and leaves
behaviour unchanged where the stock code already works. Details and the
reasoning behind each fix: ``docs/compat.md``.

1. ``weights_only`` checkpoint loading (torch >= 2.6): allow exactly the
   types mmengine writes (numpy arrays/scalars/dtypes, ``HistoryBuffer``),
   stop ``HistoryBuffer`` from pickling bound methods (which pickle as
   ``builtins.getattr``), and read checkpoints that stock mmengine already
   wrote through a ``getattr`` stand-in that only resolves
   ``HistoryBuffer``'s statistics methods.
2. ``pkg_resources`` (setuptools >= 81 dropped it): ``mmpretrain::``
   config inheritance resolves packages through ``importlib.metadata``.
3. ``--launcher pytorch`` without CUDA: gloo instead of nccl, no
   ``torch.cuda.set_device``, and DDP without ``device_ids``.
4. numpy 2: ``mmcv.adjust_hue`` (used by mmpretrain's ``ColorJitter``)
   computes ``np.uint8(negative)``, which numpy 2 refuses; the hue shift is
   taken modulo 256 instead, which is what numpy 1's wrap-around gave.
5. A checkpoint that ``weights_only`` loading refuses is reported in two
   lines naming the file, the refused global and the trust model, instead of
   torch's page-long message.
6. Checkpoints are written atomically (temporary file, fsync, ``os.replace``):
   a run killed while saving never leaves a truncated ``epoch_N.pth``; and
   ``--resume`` falls back to the newest ``epoch_N``/``iter_N.pth`` when the
   ``last_checkpoint`` pointer is missing, empty or names a deleted file.
7. On a CPU-only machine ``AmpOptimWrapper`` (bfloat16) and
   ``sync_bn='torch'`` run instead of being refused (:mod:`.mm_compat_cpu`;
   docs/distributed.md).
"""
import importlib.metadata
import importlib.util
import os
import os.path as osp
import re

__all__ = ['apply_config_fixes', 'apply_all']


# --------------------------------------------------------------------------
# 2. package lookup without pkg_resources
# --------------------------------------------------------------------------
def _distribution(package: str):
    try:
        return importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without ``pkg_resources``."""
    if _distribution(package) is not None:
        return True
    spec = importlib.util.find_spec(package)
    return spec is not None and spec.origin is not None


def package2module(package: str) -> str:
    """The top-level module a distribution provides (``mmcv-full`` → mmcv)."""
    dist = _distribution(package)
    top = dist.read_text('top_level.txt') if dist else None
    if not top:
        raise ValueError(f'can not infer the module name of {package}')
    return top.split('\n')[0]


def get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without ``pkg_resources``."""
    spec = importlib.util.find_spec(package.replace('-', '_'))
    if spec is None:
        spec = importlib.util.find_spec(package2module(package))
    if spec is None or spec.origin is None:
        raise RuntimeError(f'{package} is not installed or is a namespace '
                           'package, which is invalid for get_installed_path')
    return osp.dirname(spec.origin)


def patch_package_utils(module) -> None:
    """Replace the pkg_resources-based helpers in one (mmengine) module."""
    for fn in (is_installed, get_installed_path, package2module):
        if hasattr(module, fn.__name__):
            setattr(module, fn.__name__, fn)


def apply_config_fixes() -> None:
    """Patch mmengine's package helpers wherever they were imported to."""
    import mmengine.config.config as mcc
    import mmengine.utils as mu
    import mmengine.utils.package_utils as pu
    for module in (pu, mu, mcc):
        patch_package_utils(module)


# --------------------------------------------------------------------------
# 1. weights_only checkpoint loading
# --------------------------------------------------------------------------
_STAT_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside weights-only unpickling.

    Stock mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'min')`` etc. Resolving exactly those keeps old
    checkpoints readable without handing a crafted checkpoint a general
    attribute-access gadget.
    """
    import pickle

    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _STAT_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods are allowed. The file was '
        'not written by mmengine; do not load it unless you trust its '
        'source (see the trust model in README).')


def _history_buffer_getstate(self) -> dict:
    # Statistics methods are registered on the class at import time; pickling
    # them only adds ``builtins.getattr`` to every checkpoint.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _checkpoint_fixes() -> None:
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    HistoryBuffer.__getstate__ = _history_buffer_getstate
    core = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [
        HistoryBuffer, np.ndarray, np.dtype, core._reconstruct, core.scalar,
        # checkpoints written under numpy 1.x name the old module path
        (core._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (core.scalar, 'numpy.core.multiarray.scalar'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
    # numpy >= 1.25 pickles dtypes through their per-type classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')
            and isinstance(getattr(dtypes, n), type)
        ]
    torch.serialization.add_safe_globals(safe)


# --------------------------------------------------------------------------
# 3. --launcher pytorch without CUDA
# --------------------------------------------------------------------------
def _launcher_fixes() -> None:
    import torch
    import torch.distributed as torch_dist
    import mmengine.dist.utils as du
    from mmengine.runner import Runner

    if getattr(du._init_dist_pytorch, '_mixssl_patched', False):
        return
    stock_init = du._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return stock_init(backend, init_backend=init_backend, **kwargs)
        # CPU-only node: nccl cannot run and there is no device to select
        if backend == 'nccl':
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch._mixssl_patched = True
    du._init_dist_pytorch = _init_dist_pytorch

    stock_wrap = Runner.wrap_model

    def wrap_model(self, model_wrapper_cfg, model):
        from mmengine.device import get_device
        if self.distributed and get_device() == 'cpu':
            # DDP of a CPU module must not be given device_ids
            cfg = dict(model_wrapper_cfg or dict(
                type='MMDistributedDataParallel',
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get(
                    'find_unused_parameters', False)))
            cfg.setdefault('device_ids', None)
            model_wrapper_cfg = cfg
        return stock_wrap(self, model_wrapper_cfg, model)

    Runner.wrap_model = wrap_model


# --------------------------------------------------------------------------
# 4. numpy 2: negative hue shifts
# --------------------------------------------------------------------------
def adjust_hue(img, hue_factor: float, backend=None):
    """``mmcv.adjust_hue`` with the hue rotation computed modulo 256."""
    import cv2
    import numpy as np
    from PIL import Image
    import mmcv.image.io as mio

    backend = backend or mio.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'backend: {backend} is not supported.'
                         "Supported backends are 'cv2', 'pillow'")
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and (img.ndim in {2, 3})):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        with np.errstate(over='ignore'):
            np_h += shift  # uint8 addition rotates across the boundary
        pil_image = Image.merge(
            'HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    with np.errstate(over='ignore'):
        h = h.astype(np.uint8) + shift
    return cv2.cvtColor(cv2.merge([h, s, v]),
                        cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def _numpy2_fixes() -> None:
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    for module in (mmcv, mmcv.image, mmcv.image.photometric):
        module.adjust_hue = adjust_hue


# --------------------------------------------------------------------------
# 5. a short, clear refusal of checkpoints that weights_only cannot load
# --------------------------------------------------------------------------
TRUST_MODEL = 'docs/compat.md, "Trust model for checkpoints"'


def refusal_message(filename: str, error: BaseException) -> str:
    """The two-line message for a checkpoint refused by weights-only
    loading: the file, what it asked for, and the trust model."""
    # the parsing of torch's message lives in one place; imported here, not
    # at module level, to keep this module standard-library only
    from mixssl_mm.utils.checkpoint import refused_global, unpickler_reason
    text = str(error)
    gadget = re.search(r'(refusing getattr\([^)]*\))', text)
    what = (refused_global(text) or (gadget.group(1) if gadget else None)
            or unpickler_reason(text, first_sentence=True)
            or ' '.join(text.split())[:200])
    return (f'refusing to load checkpoint {filename}: it needs `{what}`, '
            'which weights-only loading does not allow. Checkpoints written '
            'by mmengine, mmpretrain or mixssl_mm never need it, so this '
            'file was written by other code or crafted to run code.\nLoad '
            f'only checkpoints you trust (trust model: {TRUST_MODEL}); if '
            'you trust this one, convert it once to a plain state_dict: '
            "torch.save(torch.load(path, weights_only=False)['state_dict'], "
            "'plain.pth').")


def _refusal_fixes() -> None:
    import pickle

    from mmengine.runner.checkpoint import CheckpointLoader

    stock = CheckpointLoader._schemes['']
    if getattr(stock, '_mixssl_patched', False):
        return

    def load_from_local(filename, map_location):
        try:
            return stock(filename, map_location)
        except pickle.UnpicklingError as e:
            if 'Weights only load failed' not in str(e) and \
                    'refusing getattr' not in str(e):
                raise
            raise pickle.UnpicklingError(
                refusal_message(osp.expanduser(filename), e)) from None

    load_from_local._mixssl_patched = True
    CheckpointLoader._schemes[''] = load_from_local


# --------------------------------------------------------------------------
# 6. atomic checkpoint writes; resume despite a stale last_checkpoint
# --------------------------------------------------------------------------
_URI = re.compile(r'^[A-Za-z][\w+.-]*://')


def atomic_torch_save(obj, filename: str) -> None:
    """``torch.save`` to a hidden temporary file next to ``filename``, fsync,
    then ``os.replace``: readers see the old file or the complete new one,
    never a truncated one."""
    import glob

    import torch
    filename = osp.abspath(filename)
    folder, base = osp.split(filename)
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(osp.join(folder, f'.{glob.escape(base)}.part-*')):
        try:  # left by a run killed while saving
            os.remove(stale)
        except OSError:
            pass
    tmp = osp.join(folder, f'.{base}.part-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


_CKPT_NAME = re.compile(r'^(epoch|iter)_\d+\.pth$')


def find_latest_checkpoint(path: str):
    """``mmengine.runner.find_latest_checkpoint`` that survives a missing,
    empty or stale ``last_checkpoint`` pointer (e.g. a run killed between
    writing a checkpoint and updating the pointer): it then returns the
    newest ``epoch_N.pth`` / ``iter_N.pth`` in ``path``."""
    from mmengine.logging import print_log
    save_file = osp.join(path, 'last_checkpoint')
    last = None
    if osp.exists(save_file):
        with open(save_file) as f:
            last = f.read().strip() or None
    if last is not None:
        if _URI.match(last) or osp.isfile(last):
            return last
        moved = osp.join(path, osp.basename(last))
        if osp.isfile(moved):
            return moved
    found = [osp.join(path, n) for n in os.listdir(path)
             if _CKPT_NAME.match(n)] if osp.isdir(path) else []
    if found:
        newest = max(found, key=osp.getmtime)
        print_log(
            f'{save_file} is missing, empty or names a file that does not '
            f'exist ({last!r}); resuming from the newest checkpoint, '
            f'{newest}.', logger='current', level=30)
        return newest
    if last is None:
        print_log('Did not find last_checkpoint to be resumed.')
    return last


def _save_fixes() -> None:
    import mmengine.runner as mr
    import mmengine.runner._flexible_runner as mfr
    import mmengine.runner.checkpoint as mc
    import mmengine.runner.runner as mrr

    stock = mc.save_checkpoint
    if getattr(stock, '_mixssl_patched', False):
        return

    def save_checkpoint(checkpoint, filename, file_client_args=None,
                        backend_args=None):
        if (file_client_args is None and backend_args is None
                and not _URI.match(str(filename))):
            atomic_torch_save(checkpoint, filename)
        else:
            stock(checkpoint, filename, file_client_args=file_client_args,
                  backend_args=backend_args)

    save_checkpoint._mixssl_patched = True
    save_checkpoint.__doc__ = stock.__doc__
    for module in (mc, mr, mrr):
        module.save_checkpoint = save_checkpoint
    for module in (mc, mr, mrr, mfr):
        module.find_latest_checkpoint = find_latest_checkpoint


def apply_all() -> None:
    """Apply every fix (idempotent)."""
    apply_config_fixes()
    _checkpoint_fixes()
    _launcher_fixes()
    _numpy2_fixes()
    _refusal_fixes()
    _save_fixes()
    from .mm_compat_cpu import apply_cpu_fixes
    apply_cpu_fixes()

