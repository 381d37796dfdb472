# Copyright (c) mixssl_mm contributors. All rights reserved.
"""A config key that its component does not take, explained.

Python's ``TypeError: RandomResizedCrop.__init__() got an unexpected keyword
argument 'scal'`` comes from wherever mmengine builds the component: the
pre-flight's dataset build (the dataset and its transforms), the Runner's
model and hooks, and its optimizer, schedulers, metrics and the hooks' own
datasets. :func:`explain_unexpected_key` finds the dict in the config that
holds the key. It re-raises the error as a :class:`ConfigError` that names
the key's place in the config, the closest key the class takes (from its
own ``__init__`` and its bases') and every valid key. This is the kind of
error reported in mmselfsup#745 (issue 22, kind 5; docs/reliability.md,
"Dataset errors with a known cause").
"""
import contextlib
import difflib
import inspect
import re
from typing import List, Optional, Tuple

from .config import config_dicts
from .error import ConfigError

__all__ = [
    'init_keys', 'unexpected_key', 'explain_unexpected_key',
    'explained_key_errors'
]

# CPython's message, and that of the plugin's classes that refuse every
# unknown key at once (MixSSL, CrossDomainMixup: "... argument(s) ['k']")
_PYTHON = re.compile(
    r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_PLUGIN = re.compile(
    r"(\w+)\.__init__\(\) got unexpected keyword argument\(s\) \['(\w+)'")


def init_keys(cls) -> List[str]:
    """Every keyword the class ``cls`` takes: the parameters of its
    ``__init__`` and of its bases' (a subclass passes ``**kwargs`` on, e.g.
    mmpretrain's ``CustomDataset`` to mmengine's ``BaseDataset``)."""
    keys = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL,
                                                   p.VAR_KEYWORD) \
                    and p.name not in keys:
                keys.append(p.name)
    return keys


def unexpected_key(error: BaseException) -> Optional[Tuple[str, str]]:
    """``(class name, key)`` of an unexpected-keyword ``TypeError`` (also
    when mmengine's ``build_from_cfg`` has prefixed it with the class and
    its file); None for any other error."""
    if not isinstance(error, TypeError):
        return None
    found = _PYTHON.search(str(error)) or _PLUGIN.search(str(error))
    return found.groups() if found else None


def _registered_class(kind, name: str):
    """The class a dict's ``type`` names, looked up in every mmpretrain
    registry (and the mmengine registries above them), preferring the one
    whose ``__init__`` chain includes the class ``name`` of the error."""
    if isinstance(kind, type):
        return kind
    if not isinstance(kind, str):
        return None
    import mmpretrain.registry as reg
    from mmengine.registry import Registry
    short, found = kind.split('.')[-1], []
    for registry in vars(reg).values():
        while isinstance(registry, Registry):
            cls = registry.module_dict.get(short)
            if isinstance(cls, type):
                found.append(cls)
            registry = registry.parent
    for cls in found:
        if name in (k.__name__ for k in inspect.getmro(cls)):
            return cls
    return found[0] if found else None


def explain_unexpected_key(cfg,
                           error: BaseException,
                           root: str = '') -> Optional[ConfigError]:
    """A :class:`ConfigError` for an unexpected-keyword ``error`` raised
    while building a component of ``cfg`` (a Config or a dict): the dict
    that holds the key (its type's class or a base of it is the one the
    error names), as a ``--cfg-options`` path under ``root`` (e.g.
    ``'train_dataloader.dataset'`` when ``cfg`` is that dataset's dict),
    the closest valid key and every valid one. None when the error is no
    such error or no dict of the config holds the key.

    Use as ``raise explain_unexpected_key(...) or error`` (``from error``).
    """
    parsed = unexpected_key(error)
    if parsed is None:
        return None
    name, bad = parsed
    tree = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    for path, d in config_dicts(tree):
        if bad not in d or 'type' not in d:
            continue
        cls = _registered_class(d['type'], name)
        chain = [k.__name__ for k in inspect.getmro(cls)
                 ] if cls else [str(d['type']).split('.')[-1]]
        if name not in chain:
            continue  # the same key in another component
        kind = d['type'] if isinstance(d['type'], str) else chain[0]
        key = '.'.join(
            p for p in (root, re.sub(r'\[(\d+)\]', r'.\1', path)) if p)
        keys = init_keys(cls) if cls is not None else []
        close = difflib.get_close_matches(bad, keys, n=1, cutoff=0.6)
        return ConfigError(
            f'{key} (type={kind!r}) has a key {kind} does not take: {bad!r}. '
            + (f'Did you mean {close[0]!r}? Rename it ({key}.{close[0]}).'
               if close else f'Remove it ({key}.{bad}).') +
            (f'\nThe keys of {kind}: {", ".join(keys)}.' if keys else ''))
    return None


@contextlib.contextmanager
def explained_key_errors(cfg):
    """Re-raise an unexpected-keyword ``TypeError`` of a component of
    ``cfg`` inside the block as the :class:`ConfigError` of
    :func:`explain_unexpected_key`; every other error as it is. ``cfg``
    may be a function that returns the config (or None) when the error
    comes: mmpretrain's own tools merge it inside the block."""
    try:
        yield
    except TypeError as e:
        tree = cfg() if callable(cfg) else cfg
        explained = None if tree is None else explain_unexpected_key(tree, e)
        if explained is None:
            raise
        raise explained from e
