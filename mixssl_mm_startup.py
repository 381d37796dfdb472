"""Start-up hook of mixssl_mm, run by ``mixssl_mm_startup.pth``.

mmpretrain's own ``tools/train.py`` parses a config's ``mmpretrain::`` bases
*before* it imports ``custom_imports``, and stock mmengine 0.10.7 resolves
them through ``pkg_resources``, which setuptools >= 81 no longer ships. This
hook waits until ``mmengine.utils.package_utils`` is imported and then swaps
in the ``importlib.metadata`` versions from ``mixssl_mm.mm_compat``. It costs
one entry in ``sys.meta_path`` and imports nothing until mmengine is used.
It also filters mmcv-lite's ``MultiScaleDeformableAttention`` warning
(:func:`ignore_mmcv_lite_warning`), which is printed at import time, so the
filter must be in place before anything imports mmpretrain's models.
"""
import importlib.abc
import importlib.util
import os.path as osp
import sys
import warnings

_TARGET = 'mmengine.utils.package_utils'


def ignore_mmcv_lite_warning() -> None:
    """Hide the one warning mmcv-lite prints whenever mmpretrain's models are
    imported: ``Fail to import MultiScaleDeformableAttention ... install mmcv
    rather than mmcv-lite``. That op is a compiled CUDA kernel of mmcv-full
    that neither mmpretrain's classifiers/SSL algorithms nor this plugin use,
    so on every start the warning only asks users to install something they
    do not need. Exactly that message from that module is filtered; every
    other warning of mmcv stays."""
    warnings.filterwarnings(
        'ignore', message=r'Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning, module=r'mmcv\.cnn\.bricks\.transformer')


def _load_compat():
    name = 'mixssl_mm.mm_compat'
    if name in sys.modules:
        return sys.modules[name]
    # load the module by path: importing the mixssl_mm package would pull in
    # torch and mmpretrain while mmengine is half-initialised
    spec = importlib.util.find_spec('mixssl_mm')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = osp.join(list(spec.submodule_search_locations)[0], 'mm_compat.py')
    mod_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    mod_spec.loader.exec_module(module)
    return module


class _Finder(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        stock_exec = spec.loader.exec_module

        def exec_module(module):
            stock_exec(module)
            compat = _load_compat()
            if compat is not None:
                compat.patch_package_utils(module)

        spec.loader.exec_module = exec_module
        return spec


def install():
    ignore_mmcv_lite_warning()
    if _TARGET in sys.modules:
        compat = _load_compat()
        if compat is not None:
            compat.apply_config_fixes()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
