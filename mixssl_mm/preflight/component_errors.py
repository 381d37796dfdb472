# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Errors of building a config's components that have a known cause,
explained where the component is in the config.

mmengine builds components in many places: the pre-flight's dataset build
(the dataset and its transforms), the Runner's model and hooks, and its
optimizer, schedulers, metrics and the hooks' own datasets. Two causes give
raw errors there, with no config path and no fix:

- a key the component's class does not take: Python's ``TypeError:
  RandomResizedCrop.__init__() got an unexpected keyword argument 'scal'``;
- a type that no registry holds: mmengine's ``KeyError: 'TransparencyHed
  is not in the mmpretrain::model registry. ...'``, or for the optimizer
  ``TypeError: None is not a callable object``.

:func:`explain_component_error` finds the dict in the config that causes
the error. It re-raises the error as a :class:`ConfigError` that names the
dict's place in the config and the closest valid key (from the class's
``__init__`` and its bases') or the closest registered type. This is the
kind of error reported in mmselfsup#745 (issue 22, kind 5;
docs/reliability.md, "Dataset errors with a known cause").
"""
import contextlib
import difflib
import inspect
import re
from typing import List, Optional, Tuple

from .config import IMPORT_LINE, config_dicts
from .error import ConfigError

__all__ = [
    'init_keys', 'unexpected_key', 'explain_component_error',
    'explained_component_errors'
]

# CPython's message (Python 3.9 leaves the class out), and that of the
# plugin's classes that refuse every unknown key at once (MixSSL,
# CrossDomainMixup: "... argument(s) ['k']")
_PYTHON = re.compile(
    r"(?:(\w+)\.)?__init__\(\) got an unexpected keyword argument '(\w+)'")
_PLUGIN = re.compile(
    r"(\w+)\.__init__\(\) got unexpected keyword argument\(s\) \['(\w+)'")
# registry names may have spaces ('parameter scheduler', 'data sampler')
_NOT_REGISTERED = re.compile(
    r"([^\s'`]+) is not in the (?:[\w.]+::)?([\w ]+?) registry")
# mmengine's optimizer constructor looks the type up without the check
_NO_OPTIMIZER = 'None is not a callable object'


def init_keys(cls) -> List[str]:
    """Every keyword the class ``cls`` takes: the parameters of its
    ``__init__`` and, while an ``__init__`` passes ``**kwargs`` on, of its
    bases' (mmpretrain's ``CustomDataset`` to mmengine's ``BaseDataset``;
    torch's ``SGD`` does not, so its base's ``defaults`` is no key)."""
    keys = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        keys += [
            p.name for p in params if p.name != 'self' and p.kind not in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in keys
        ]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return keys


def unexpected_key(
        error: BaseException) -> Optional[Tuple[Optional[str], str]]:
    """``(class name, key)`` of an unexpected-keyword ``TypeError`` (also
    when mmengine's ``build_from_cfg`` has prefixed it with the class and
    its file; the class is None on Python 3.9); None for any other
    error."""
    if not isinstance(error, TypeError):
        return None
    found = _PYTHON.search(str(error)) or _PLUGIN.search(str(error))
    return found.groups() if found else None


def _registries(name: Optional[str] = None) -> list:
    """mmpretrain's registries (of ``name``, e.g. ``'model'``) and the
    mmengine registries above them."""
    import mmpretrain.registry as reg
    from mmengine.registry import Registry
    out = []
    for registry in vars(reg).values():
        if isinstance(registry, Registry) and name in (None, registry.name):
            while registry is not None:
                out.append(registry)
                registry = registry.parent
    return out


def _registered_class(kind, name: Optional[str]):
    """The class a dict's ``type`` names, preferring the one whose
    ``__init__`` chain includes the class ``name`` of the error."""
    if isinstance(kind, type):
        return kind
    if not isinstance(kind, str):
        return None
    found = [
        r.module_dict[kind.split('.')[-1]] for r in _registries()
        if isinstance(r.module_dict.get(kind.split('.')[-1]), type)
    ]
    for cls in found:
        if name in (k.__name__ for k in inspect.getmro(cls)):
            return cls
    return found[0] if found else None


def _key_error(tree, name: Optional[str], bad: str,
               root: str) -> Optional[str]:
    for key, d in config_dicts(tree, root):
        if bad not in d or 'type' not in d:
            continue
        cls = _registered_class(d['type'], name)
        if cls is None:
            # an unregistered type: only when the error names it
            if name != str(d['type']).split('.')[-1]:
                continue
        elif bad in init_keys(cls) or name is not None and name not in (
                k.__name__ for k in inspect.getmro(cls)):
            continue  # another component, or one that takes the key
        kind = d['type'] if isinstance(d['type'], str) else cls.__name__
        keys = init_keys(cls) if cls is not None else []
        close = difflib.get_close_matches(bad, keys, n=1, cutoff=0.6)
        return (
            f'{key} (type={kind!r}) has a key {kind} does not take: {bad!r}. '
            + (f'Did you mean {close[0]!r}? Rename it ({key}.{close[0]}).'
               if close else f'Remove it ({key}.{bad}).') +
            (f'\nThe keys of {kind}: {", ".join(keys)}.' if keys else ''))
    return None


def _type_error(tree, kind: str, registry: str, root: str) -> Optional[str]:
    names = sorted({n for r in _registries(registry) for n in r.module_dict})
    for key, d in config_dicts(tree, root):
        if d.get('type') != kind:
            continue
        close = difflib.get_close_matches(
            kind.split('.')[-1], names, n=3, cutoff=0.6)
        return (f'{key} (type={kind!r}): no {registry} type '
                f'{kind!r} is registered. ' +
                (f'Did you mean {" or ".join(map(repr, close))}? '
                 if close else '') +
                'A mixssl_mm component (MixSSL, CrossDomainMixup, MedMNIST, '
                f'...) also needs {IMPORT_LINE} in the config.')
    return None


def explain_component_error(cfg,
                            error: BaseException,
                            root: str = '') -> Optional[ConfigError]:
    """A :class:`ConfigError` for an ``error`` of a known cause (see the
    module docstring) raised while building a component of ``cfg`` (a
    Config or a dict): the dict that causes it, as a ``--cfg-options``
    path under ``root`` (e.g. ``'train_dataloader.dataset'`` when ``cfg``
    is that dataset's dict), and the closest valid key or type. None when
    the cause is another one, or no dict of the config is the cause.

    Use as ``raise explain_component_error(...) or error`` (``from
    error``).
    """
    tree, message = cfg, None  # config_dicts walks a Config or a dict
    parsed = unexpected_key(error)
    found = _NOT_REGISTERED.search(str(error))
    if parsed is not None:
        message = _key_error(tree, *parsed, root)
    elif isinstance(error, KeyError) and found:
        message = _type_error(tree, *found.groups(), root)
    elif isinstance(error, TypeError) and _NO_OPTIMIZER in str(error):
        known = {n for r in _registries('optimizer') for n in r.module_dict}
        for key, d in config_dicts(tree):
            kind = d.get('type')
            if key.split('.')[-1] == 'optimizer' and isinstance(
                    kind, str) and kind.split('.')[-1] not in known:
                message = _type_error(tree, kind, 'optimizer', root)
                break
    return None if message is None else ConfigError(message)


@contextlib.contextmanager
def explained_component_errors(cfg):
    """Re-raise an error of a known cause of a component of ``cfg`` inside
    the block as the :class:`ConfigError` of
    :func:`explain_component_error`; every other error as it is. ``cfg``
    may be a function that returns the config (or None) when the error
    comes: mmpretrain's own tools merge it inside the block."""
    try:
        yield
    except (TypeError, KeyError) as e:
        tree = cfg() if callable(cfg) else cfg
        explained = None if tree is None else explain_component_error(tree, e)
        if explained is None:
            raise
        raise explained from e
