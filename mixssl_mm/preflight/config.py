# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of the config itself (nothing is built or written)."""
from typing import Iterator, Tuple

from .error import ConfigError

__all__ = [
    'PLUGIN', 'IMPORT_LINE', 'config_dicts', 'plugin_component_names',
    'check_custom_imports', 'check_randomness', 'is_local', 'config_name'
]

PLUGIN = 'mixssl_mm'
IMPORT_LINE = ("custom_imports = dict(imports=['mixssl_mm'], "
               'allow_failed_imports=False)')


def config_dicts(obj, path: str = '') -> Iterator[Tuple[str, dict]]:
    """``(key path, dict)`` of ``obj`` (a Config, ConfigDict or plain
    container) and of every dict nested in it, lists included, in config
    order; the path is the ``--cfg-options`` key under ``path``, e.g.
    ``('model.backbone.init_cfg', {...})``, ``('custom_hooks.0', {...})``.
    """
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from config_dicts(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from config_dicts(v, f'{path}.{i}' if path else str(i))


def config_name(cfg) -> str:
    """The config's file name for messages (``'the config'`` when it was
    made in code)."""
    return cfg.filename or 'the config'


def is_local(path) -> bool:
    """A file path (not a URL such as ``s3://`` or ``https://``)."""
    return isinstance(path, str) and '://' not in path


def plugin_component_names() -> set:
    """Names that ``import mixssl_mm`` registers (MixSSL, CrossDomainMixup,
    ...)."""
    import mmpretrain.registry as reg
    from mmengine.registry import Registry
    names = set()
    for obj in vars(reg).values():
        if isinstance(obj, Registry):
            for name, cls in obj.module_dict.items():
                if getattr(cls, '__module__', '').startswith(PLUGIN):
                    names.add(name)
    return names


def check_custom_imports(cfg) -> None:
    """Refuse a config that uses plugin components without importing the
    plugin: it would work here (this tool imports it) but fail with
    mmpretrain's own tools and inference APIs.

    Raises:
        ConfigError: naming the components and the line to add.
    """
    ours = plugin_component_names()
    used = sorted({
        d['type'].split('.')[-1]
        for _, d in config_dicts(cfg.to_dict())
        if isinstance(d.get('type'), str)
    } & ours)
    if not used:
        return
    imports = (cfg.get('custom_imports') or {}).get('imports', [])
    imports = [imports] if isinstance(imports, str) else list(imports)
    if any(m == PLUGIN or m.startswith(PLUGIN + '.') for m in imports):
        return
    raise ConfigError(
        f'{cfg.filename} uses mixssl_mm components ({", ".join(used)}) but '
        'does not import the plugin. Add this line to the config:\n  '
        f'{IMPORT_LINE}\n(tools/train.py, i.e. python -m '
        'mixssl_mm.apis.train, would find them anyway, but '
        "mmpretrain's own tools, dist/slurm launchers and inference APIs "
        'build them only through custom_imports.)')


def check_randomness(cfg) -> None:
    """``randomness.seed`` must be None or a whole number that numpy, torch
    and Python's ``random`` all take (0 <= seed < 2**32): mmengine's
    ``set_random_seed`` fails on anything else with numpy's raw error, after
    the Runner has started.

    Raises:
        ConfigError: naming the value and the range.
    """
    randomness = cfg.get('randomness') or {}
    seed = randomness.get('seed') if isinstance(randomness, dict) else None
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or \
            not 0 <= seed < 2**32:
        raise ConfigError(
            f'randomness.seed={seed!r}: give a whole number from 0 to '
            f'{2**32 - 1} (--cfg-options randomness.seed=0), or None for a '
            'random one.')
