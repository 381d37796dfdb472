"""Run as a script in a fresh interpreter: does ``import mixssl_mm`` change
anything in mmengine, mmcv, mmpretrain or torch?

``python import_purity.py MODULE ...`` first imports every MODULE (the
stack modules that ``import mixssl_mm`` would import; the caller lists them
from another fresh interpreter), then snapshots, for each loaded module of
those packages, the identity of every module attribute and of every
attribute in the ``__dict__`` of every class defined there, together with
torch's weights-only allow-list, ``sys.meta_path``, ``sys.path_hooks`` and
the warnings filters. It then imports mixssl_mm, snapshots again and prints
one JSON line: ``{"changed": [...], "modules": N, "classes": M}``.
Registering into mmpretrain's registries is what the plugin is for: that
changes registry instances' contents, never a module or class attribute.

``--then CODE`` (first two arguments) runs CODE after the import, before
the second snapshot: the tests check with it that the snapshot does see
what :func:`mixssl_mm.compat.apply_compat_fixes` changes.

``python import_purity.py --list`` prints the names of the stack modules
loaded after ``import mixssl_mm`` (JSON).
"""
import importlib
import json
import sys
import warnings

PACKAGES = ('mmengine', 'mmcv', 'mmpretrain', 'torch', 'torchvision', 'numpy')


def _stack_modules():
    return sorted(name for name, mod in list(sys.modules.items())
                  if mod is not None and name.split('.')[0] in PACKAGES)


def _snapshot():
    import torch
    attrs, classes = {}, {}
    for name in _stack_modules():
        module = sys.modules[name]
        try:
            items = dict(vars(module))
        except TypeError:
            continue
        for key, value in items.items():
            attrs[f'{name}.{key}'] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for ckey, cvalue in dict(vars(value)).items():
                    classes[f'{name}.{key}.{ckey}'] = id(cvalue)
    state = {
        'safe_globals':
        sorted(map(repr, torch.serialization.get_safe_globals())),
        'meta_path': [repr(f) for f in sys.meta_path],
        'path_hooks': [repr(h) for h in sys.path_hooks],
        'warnings_filters': [repr(f) for f in warnings.filters],
    }
    return attrs, classes, state


def main(argv):
    if argv == ['--list']:
        importlib.import_module('mixssl_mm')
        print(json.dumps(_stack_modules()))
        return
    then = None
    if argv[:1] == ['--then']:
        then, argv = argv[1], argv[2:]
    for name in argv:
        try:
            importlib.import_module(name)
        except Exception:  # a module that only imports in some setups
            pass
    before = _snapshot()
    import mixssl_mm  # noqa: F401
    if then is not None:
        exec(then, {})
    after = _snapshot()
    changed = []
    for old, new in zip(before[:2], after[:2]):
        # attributes that the import replaced or removed, or added to a
        # module or class that was loaded beforehand
        owners = {key.rsplit('.', 1)[0] for key in old}
        changed += [k for k in old if new.get(k) != old[k]]
        changed += [
            k for k in new if k not in old and k.rsplit('.', 1)[0] in owners
        ]
    changed += [k for k in before[2] if before[2][k] != after[2][k]]
    print(
        json.dumps(
            dict(
                changed=sorted(set(changed)),
                modules=len(_stack_modules()),
                classes=len(after[1]))))


if __name__ == '__main__':
    main(sys.argv[1:])
