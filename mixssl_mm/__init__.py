"""MixSSL for MMPretrain.

Importing this package registers every MixSSL component into mmpretrain's
registries, so ``custom_imports=dict(imports=['mixssl_mm'])`` is all a config
needs. The stock-stack fixes are applied first (see :mod:`mixssl_mm.mm_compat`).
"""
try:  # mmcv-lite's MultiScaleDeformableAttention warning, filtered by the
    # start-up hook (installed with the package) at interpreter start; again
    # here for a checkout on PYTHONPATH, where no start-up hook ran
    from mixssl_mm_startup import ignore_mmcv_lite_warning
    ignore_mmcv_lite_warning()
except ImportError:  # pragma: no cover  (an install without the hook)
    pass

from . import mm_compat

mm_compat.apply_all()  # before anything parses a config or loads a checkpoint

from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
