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
"""
import importlib.metadata
import importlib.util
import os.path as osp

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


def apply_all() -> None:
    """Apply every fix (idempotent)."""
    apply_config_fixes()
    _checkpoint_fixes()
    _launcher_fixes()
    _numpy2_fixes()

