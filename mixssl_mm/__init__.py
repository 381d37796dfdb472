"""MixSSL for MMPretrain.

Importing this package only registers every MixSSL component into
mmpretrain's registries, so ``custom_imports=dict(imports=['mixssl_mm'])`` is
all a config needs. It changes nothing in mmengine, mmcv or torch: the fixes
for today's stack are opt-in, :func:`mixssl_mm.compat.apply_compat_fixes`
(applied by this project's entry points; docs/compat.md).
"""
import importlib.util

if importlib.util.find_spec('mmcv') is None:
    # mmpretrain's convention: mmcv is not a pip requirement (full mmcv is
    # built for one CUDA; mmcv-lite is the pure-Python part), so say which
    raise ImportError(
        'mixssl_mm needs mmcv 2.0-2.2, which is not installed. On a CPU or '
        "for training only: pip install 'mmcv-lite>=2.0.0,<2.3.0' (or "
        "install mixssl_mm with the extra: pip install -e '.[mmcv-lite]'); "
        "with CUDA ops: mim install 'mmcv>=2.0.0,<2.3.0'. See "
        'docs/install.md.')

import warnings  # noqa: E402

with warnings.catch_warnings():
    # mmpretrain's models, imported here once, make mmcv-lite warn that it
    # lacks MultiScaleDeformableAttention, a compiled CUDA op that neither
    # mmpretrain's classifiers and SSL algorithms nor this plugin use.
    # Exactly that warning is hidden, during this import only: the warning
    # filters are the caller's again afterwards (docs/compat.md).
    warnings.filterwarnings(
        'ignore',
        message=r'Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning,
        module=r'mmcv\.cnn\.bricks\.transformer')
    from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
