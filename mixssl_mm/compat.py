# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Opt-in fixes for the stock mm stack (mmengine 0.10.7, mmcv 2.2) on
today's torch, numpy and setuptools.

Nothing here runs on import: ``import mixssl_mm`` only registers
components. :func:`apply_compat_fixes` applies the fixes that the installed
versions need, each gated on the versions that have the problem, and logs
one line per fix it applies (what and why). This project's entry points call
it (``tools/*.py``, ``python -m mixssl_mm.apis.train`` / ``.test`` /
``.mmpretrain_tool``, hence ``dist_*.sh`` and the benchmark's stages);
mmpretrain's own tools get it with one line::

    python -m mixssl_mm.apis.mmpretrain_tool train CONFIG [mmpretrain flags]

or, in a script of your own, before the config is read::

    from mixssl_mm.compat import apply_compat_fixes
    apply_compat_fixes()

What each fix is for, its gate and the upstream issue/PR it mirrors:
docs/compat.md. The fixes (names as :data:`FIXES` and the log lines use):

``weights-only``
    torch >= 2.6 loads checkpoints weights-only by default; mmengine
    <= 0.10.7 writes numpy objects and ``HistoryBuffer`` into them. Allow
    exactly those types, stop ``HistoryBuffer`` from pickling bound methods
    (which pickle as ``builtins.getattr``), read checkpoints stock mmengine
    already wrote through a ``getattr`` stand-in that only resolves
    ``HistoryBuffer``'s statistics methods, and report a refused checkpoint
    in two lines naming the file and the trust model.
``pkg-resources``
    mmengine <= 0.10.7 resolves ``mmpretrain::`` bases through
    ``pkg_resources``, which setuptools >= 81 no longer ships:
    ``importlib.metadata`` versions instead.
``cpu-launcher``
    ``--launcher pytorch`` on a machine without CUDA (mmengine <= 0.10.7):
    gloo instead of nccl, no ``torch.cuda.set_device``, DDP without
    ``device_ids``.
``cpu-amp``, ``cpu-sync-bn``
    without CUDA (mmengine <= 0.10.7), ``AmpOptimWrapper`` runs bfloat16
    autocast instead of refusing the CPU, and ``sync_bn='torch'`` converts
    to :class:`CPUSyncBatchNorm` (docs/distributed.md).
``numpy2-adjust-hue``
    numpy >= 2 with mmcv <= 2.2: ``mmcv.adjust_hue`` (``ColorJitter``'s
    hue) takes the hue shift modulo 256 instead of overflowing.
``config-scope``
    mmengine <= 0.10.7 reads ``pkg::path`` config bases only for those in its
    fixed ``MODULE2PACKAGE`` list: adds ``mixssl_mm``, so that
    ``_base_ = ['mixssl_mm::mixssl/...']`` reads the configs the wheel ships
    under ``mixssl_mm/.mim/configs`` (as mmpretrain's).
``atomic-checkpoints``
    mmengine <= 0.10.7: checkpoints are written atomically (temporary file,
    fsync, ``os.replace``) and ``--resume`` falls back to the newest
    ``epoch_N``/``iter_N.pth`` when ``last_checkpoint`` is missing, empty or
    stale.

A newer mmengine than :data:`MMENGINE_CHECKED` turns the mmengine fixes off
(with one log line saying so): they are written against 0.10.7's code.
"""
import importlib.metadata
import importlib.util
import logging
import os
import os.path as osp
import re
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch

__all__ = [
    'apply_compat_fixes', 'needed_fixes', 'FIXES', 'MMENGINE_CHECKED',
    'CPUSyncBatchNorm', 'atomic_torch_save', 'find_latest_checkpoint',
    'refusal_message'
]

# the newest mmengine these fixes were written against and tested with
MMENGINE_CHECKED = (0, 10, 7)


# --------------------------------------------------------------------------
# pkg-resources: package lookup without pkg_resources
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
# weights-only: checkpoint loading
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
        f'source (trust model: {TRUST_MODEL}).')


def _history_buffer_getstate(self) -> dict:
    # Statistics methods are registered on the class at import time; pickling
    # them only adds ``builtins.getattr`` to every checkpoint.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _checkpoint_fixes() -> None:
    import numpy as np
    from mmengine.logging import HistoryBuffer

    HistoryBuffer.__getstate__ = _history_buffer_getstate
    core = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        core._reconstruct,
        core.scalar,
        # checkpoints written under numpy 1.x name the old module path
        (core._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (core.scalar, 'numpy.core.multiarray.scalar'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
    # numpy >= 1.25 pickles dtypes through their per-type classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes)
            if n.endswith('DType') and isinstance(getattr(dtypes, n), type)
        ]
    torch.serialization.add_safe_globals(safe)


# --------------------------------------------------------------------------
# cpu-launcher: --launcher pytorch without CUDA
# --------------------------------------------------------------------------
def _launcher_fixes() -> None:
    import mmengine.dist.utils as du
    import torch.distributed as torch_dist
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
            cfg = dict(
                model_wrapper_cfg or dict(
                    type='MMDistributedDataParallel',
                    broadcast_buffers=False,
                    find_unused_parameters=self.cfg.get(
                        'find_unused_parameters', False)))
            cfg.setdefault('device_ids', None)
            model_wrapper_cfg = cfg
        return stock_wrap(self, model_wrapper_cfg, model)

    Runner.wrap_model = wrap_model


# --------------------------------------------------------------------------
# numpy2-adjust-hue: negative hue shifts
# --------------------------------------------------------------------------
def adjust_hue(img, hue_factor: float, backend=None):
    """``mmcv.adjust_hue`` with the hue rotation computed modulo 256."""
    import cv2
    import mmcv.image.io as mio
    import numpy as np
    from PIL import Image

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
# weights-only: a short refusal of checkpoints it cannot load
# --------------------------------------------------------------------------
TRUST_MODEL = 'docs/compat.md, "Trust model for checkpoints"'


def refusal_message(filename: str, error: BaseException) -> str:
    """The two-line message for a checkpoint refused by weights-only
    loading: the file, what it asked for, and the trust model."""
    # the parsing of torch's message lives in one place
    from mixssl_mm.utils.checkpoint import refused_global, unpickler_reason
    text = str(error)
    gadget = re.search(r'(refusing getattr\([^)]*\))', text)
    what = (
        refused_global(text) or (gadget.group(1) if gadget else None)
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
# atomic-checkpoints: atomic writes; resume despite a stale pointer
# --------------------------------------------------------------------------
_URI = re.compile(r'^[A-Za-z][\w+.-]*://')


def atomic_torch_save(obj, filename: str) -> None:
    """``torch.save`` to a hidden temporary file next to ``filename``, fsync,
    then ``os.replace``: readers see the old file or the complete new one,
    never a truncated one."""
    import glob

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


def find_latest_checkpoint(path: str):
    """``mmengine.runner.find_latest_checkpoint`` that survives a missing,
    empty or stale ``last_checkpoint`` pointer (e.g. a run killed between
    writing a checkpoint and updating the pointer): it then returns the
    newest ``epoch_N.pth`` / ``iter_N.pth`` in ``path``. The fallback's one
    home is :func:`mixssl_mm.utils.checkpoint.latest_checkpoint`."""
    from mmengine.logging import print_log

    from mixssl_mm.utils.checkpoint import (latest_checkpoint,
                                            pointed_checkpoint)
    found = latest_checkpoint(path)
    if found is None:
        print_log('Did not find last_checkpoint to be resumed.')
    elif found != pointed_checkpoint(path):
        print_log(
            f'{osp.join(path, "last_checkpoint")} is missing, empty or names '
            'a file that does not exist; resuming from the newest '
            f'checkpoint, {found}.',
            logger='current',
            level=30)
    return found


def _save_fixes() -> None:
    import mmengine.runner as mr
    import mmengine.runner._flexible_runner as mfr
    import mmengine.runner.checkpoint as mc
    import mmengine.runner.runner as mrr

    stock = mc.save_checkpoint
    if getattr(stock, '_mixssl_patched', False):
        return

    def save_checkpoint(checkpoint,
                        filename,
                        file_client_args=None,
                        backend_args=None):
        if (file_client_args is None and backend_args is None
                and not _URI.match(str(filename))):
            atomic_torch_save(checkpoint, filename)
        else:
            stock(
                checkpoint,
                filename,
                file_client_args=file_client_args,
                backend_args=backend_args)

    save_checkpoint._mixssl_patched = True
    save_checkpoint.__doc__ = stock.__doc__
    for module in (mc, mr, mrr):
        module.save_checkpoint = save_checkpoint
    for module in (mc, mr, mrr, mfr):
        module.find_latest_checkpoint = find_latest_checkpoint


# --------------------------------------------------------------------------
# cpu-amp, cpu-sync-bn: AmpOptimWrapper and sync_bn on a CPU-only machine
# --------------------------------------------------------------------------
class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks of ``group``; the backward pass sums the
    gradients the same way (each rank's input reaches every rank's loss).
    ``torch.distributed.nn.functional.all_reduce`` does this too but is
    deprecated, and its suggested successor has no backward."""

    @staticmethod
    def forward(ctx, tensor, group):
        import torch.distributed as dist
        ctx.group = group
        out = tensor.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class CPUSyncBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """``torch.nn.SyncBatchNorm`` for CPU tensors (e.g. under gloo).

    In training with an initialised process group the mean and the biased
    variance are taken over the inputs of all ranks of ``process_group``:
    two all-reduces (sums and count, then the centred sum of squares, which
    is steadier than E[x²] − E[x]²) whose backward all-reduces the
    gradients, so each input's gradient includes the other ranks' losses
    exactly as torch's CUDA SyncBatchNorm does. Running statistics are
    updated with the unbiased global variance, as ``BatchNorm`` does with
    the whole batch. Statistics are computed in float32 whatever the input
    dtype (bf16 autocast), and the output has the input's dtype. In eval
    mode, or without a process group, it is plain batch norm.

    Not a ``SyncBatchNorm`` subclass: DDP refuses any ``SyncBatchNorm`` in
    a CPU module. Same arguments, attributes and state dict keys as
    ``SyncBatchNorm``.

    Shapes: input and output ``(N, C, *)``.
    """

    def __init__(self,
                 num_features,
                 eps=1e-5,
                 momentum=0.1,
                 affine=True,
                 track_running_stats=True,
                 process_group=None,
                 device=None,
                 dtype=None):
        super().__init__(
            num_features,
            eps,
            momentum,
            affine,
            track_running_stats,
            device=device,
            dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(
                f'expected at least 2D input (got {input.dim()}D input)')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        if not (self.training and input.device.type == 'cpu'
                and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        if input.size(1) == 0:
            raise ValueError('CPUSyncBatchNorm number of input channels '
                             'should be non-zero')
        group = self.process_group or dist.group.WORLD
        x = input.float()
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.size(1)], dtype=x.dtype)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]), group)
        n = sums[-1]
        mean = sums[:-1] / n
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims), group) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.to(self.running_mean), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var), momentum)
        return out.to(input.dtype)


def _cpu_sync_bn_fix() -> None:
    import mmengine.model.utils as mu
    import mmengine.runner.runner as mrr

    stock = mu.convert_sync_batchnorm
    if getattr(mrr.convert_sync_batchnorm, '_mixssl_patched', False):
        return

    def convert_sync_batchnorm(module, implementation='torch'):
        module = stock(module, implementation)
        if implementation == 'torch' and not torch.cuda.is_available():
            # the same attributes, parameters and buffers as torch's
            for m in module.modules():
                if type(m) is torch.nn.SyncBatchNorm:
                    m.__class__ = CPUSyncBatchNorm
        return module

    convert_sync_batchnorm._mixssl_patched = True
    convert_sync_batchnorm.__doc__ = stock.__doc__
    mrr.convert_sync_batchnorm = convert_sync_batchnorm


def _cpu_amp_fix() -> None:
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    stock_init = AmpOptimWrapper.__init__
    if getattr(stock_init, '_mixssl_patched', False):
        return

    def __init__(self,
                 loss_scale='dynamic',
                 dtype=None,
                 use_fsdp=False,
                 **kwargs):
        if torch.cuda.is_available() or dtype not in (None, 'bfloat16',
                                                      torch.bfloat16):
            return stock_init(
                self,
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                **kwargs)
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16

    __init__._mixssl_patched = True
    __init__.__doc__ = stock_init.__doc__
    AmpOptimWrapper.__init__ = __init__


# --------------------------------------------------------------------------
# gates and the one public entry
# --------------------------------------------------------------------------
def _version(*dists: str) -> Optional[Tuple[int, ...]]:
    """``(major, minor, patch)`` of the first installed distribution of
    ``dists``, or None. Local tags and pre-release suffixes are ignored
    (``2.14.1+cpu`` -> ``(2, 14, 1)``)."""
    for dist in dists:
        try:
            text = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        nums = re.findall(r'\d+', text.split('+')[0])[:3]
        return tuple(int(n) for n in nums) + (0, ) * (3 - len(nums))
    return None


def _text(version: Optional[Tuple[int, ...]]) -> str:
    return '.'.join(map(str, version)) if version else 'none'


def _no_pkg_resources() -> bool:
    try:
        return importlib.util.find_spec('pkg_resources') is None
    except (ImportError, ValueError):  # sys.modules['pkg_resources'] = None
        return True


class Fix(NamedTuple):
    """One fix: ``gate()`` returns why it is needed here (None: not
    needed); ``apply()`` applies it (idempotent)."""
    name: str
    gate: Callable[[], Optional[str]]
    apply: Callable[[], None]


def _mmengine_gate(extra: Callable[[], Optional[str]]):

    def gate():
        version = _version('mmengine')
        if version is None or version > MMENGINE_CHECKED:
            return None
        why = extra()
        return None if why is None else f'mmengine {_text(version)}: {why}'

    return gate


def _weights_only_gate():
    version = _version('torch')
    if version is None or version < (2, 6, 0):
        return None
    return (f'torch {_text(version)} loads checkpoints weights-only by '
            'default, and checkpoints hold numpy objects and HistoryBuffer')


def _pkg_resources_gate():
    return ('setuptools >= 81 / no pkg_resources: mmpretrain:: bases '
            'resolved through importlib.metadata') if _no_pkg_resources() \
        else None


def _no_cuda_gate(what: str):

    def gate():
        return None if torch.cuda.is_available() else f'no CUDA: {what}'

    return gate


def _adjust_hue_gate():
    np_version, mmcv_version = _version('numpy'), _version('mmcv', 'mmcv-lite')
    if np_version is None or mmcv_version is None or np_version < (2, ) \
            or mmcv_version >= (2, 3, 0):
        return None
    return (f'numpy {_text(np_version)} with mmcv {_text(mmcv_version)}: '
            'adjust_hue would overflow on negative hue shifts')


def _config_scope_gate():
    # not read from MODULE2PACKAGE itself: the fix adds the entry there
    return ("its fixed list of config packages (MODULE2PACKAGE) lacks "
            "mixssl_mm: _base_ = ['mixssl_mm::...'] would be refused")


def _config_scope_fix():
    # mmengine reads `pkg::path` bases only for the packages it lists; the
    # configs themselves ship under mixssl_mm/.mim/configs as mmpretrain's
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE['mixssl_mm'] = 'mixssl_mm'


def _weights_only_fix():
    _checkpoint_fixes()
    _refusal_fixes()


FIXES: List[Fix] = [
    Fix('weights-only', _mmengine_gate(_weights_only_gate), _weights_only_fix),
    Fix('pkg-resources', _mmengine_gate(_pkg_resources_gate),
        apply_config_fixes),
    Fix(
        'cpu-launcher',
        _mmengine_gate(
            _no_cuda_gate(
                '--launcher pytorch with gloo and DDP without device_ids')),
        _launcher_fixes),
    Fix('cpu-amp',
        _mmengine_gate(_no_cuda_gate('AmpOptimWrapper runs bfloat16')),
        _cpu_amp_fix),
    Fix('cpu-sync-bn',
        _mmengine_gate(_no_cuda_gate("sync_bn='torch' -> CPUSyncBatchNorm")),
        _cpu_sync_bn_fix),
    Fix('numpy2-adjust-hue', _adjust_hue_gate, _numpy2_fixes),
    Fix('config-scope', _mmengine_gate(_config_scope_gate), _config_scope_fix),
    Fix('atomic-checkpoints',
        _mmengine_gate(lambda: 'checkpoint writes are not atomic'),
        _save_fixes),
]

_applied: dict = {}


def needed_fixes() -> List[Tuple[str, str]]:
    """``[(name, why), ...]`` of the fixes the installed versions need."""
    return [(fix.name, why) for fix in FIXES
            if (why := fix.gate()) is not None]


def apply_compat_fixes() -> List[str]:
    """Apply the fixes that the installed versions need (see the module
    docstring), once per process; log one line per fix applied and, for an
    mmengine newer than :data:`MMENGINE_CHECKED`, one line saying that the
    mmengine fixes stay off. Call it before a config is
    read or a checkpoint loaded. Returns the names of the fixes applied in
    this process so far."""
    from mmengine.logging import print_log
    first = not _applied
    for name, why in needed_fixes():
        if name in _applied:
            continue
        next(fix for fix in FIXES if fix.name == name).apply()
        _applied[name] = why
        print_log(
            f'mixssl_mm.compat: {name} ({why})',
            logger='current',
            level=logging.INFO)
    version = _version('mmengine')
    if first and version is not None and version > MMENGINE_CHECKED:
        print_log(
            f'mixssl_mm.compat: mmengine {_text(version)} is newer than '
            f'{_text(MMENGINE_CHECKED)}, the last version these fixes were '
            'checked against; its own code is used unchanged '
            '(docs/compat.md)',
            logger='current',
            level=logging.INFO)
    _applied.setdefault('_checked', '')
    return [name for name in _applied if not name.startswith('_')]
