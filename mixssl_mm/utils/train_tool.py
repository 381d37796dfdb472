# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What ``tools/train.py`` runs: mmpretrain's ``tools/train.py`` (its own
``parse_args`` and ``merge_args``, so every flag behaves the same) with
checks before any work starts and a clean work dir when a run fails early.

Added on top of mmpretrain's script (docs/reliability.md has the full list):

- bad inputs are refused before anything is written, naming the problem and
  the fix: a config without ``custom_imports`` for the plugin, a missing or
  mismatched ``Pretrained`` checkpoint or ``load_from`` (an unconverted
  torchvision/DINO file is named with the converter command, see
  docs/model_converters.md), unreadable target images (or skipped
  with ``data_check = dict(skip_corrupt=True)``), a BloodMNIST file whose md5
  is not the official one, a work dir that already holds checkpoints;
- the train dataset is built once, before the Runner, and handed to it;
- a run that fails before its first iteration completes removes what it
  created in the work dir (the Runner creates ``<work_dir>/<timestamp>/``
  and dumps the config when it is constructed);
- ``--overwrite`` starts over in a work dir that holds checkpoints (they are
  deleted first).
"""
import copy
import hashlib
import importlib.util
import os
import os.path as osp
import shutil
import sys
from typing import Iterator, List, Optional, Tuple

from .image_check import dataset_image_paths, format_bad_images, \
    unreadable_images
from .resnet_converter import DOC as CONVERTER_DOC
from .resnet_converter import converter_command, unconverted_source

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PLUGIN = 'mixssl_mm'
IMPORT_LINE = ("custom_imports = dict(imports=['mixssl_mm'], "
               'allow_failed_imports=False)')


class ConfigError(ValueError):
    """A bad input found before training; the message names the fix."""


# --------------------------------------------------------------------------
# config checks (nothing is written yet)
# --------------------------------------------------------------------------
def _walk(obj, path='') -> Iterator[Tuple[str, dict]]:
    """``(key path, dict)`` of every dict nested in a config."""
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from _walk(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, f'{path}[{i}]')


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
    mmpretrain's own tools and inference APIs."""
    ours = plugin_component_names()
    used = sorted({
        d['type'].split('.')[-1]
        for _, d in _walk(cfg.to_dict()) if isinstance(d.get('type'), str)
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
        f'{IMPORT_LINE}\n(tools/train.py would find them anyway, but '
        "mmpretrain's own tools, dist/slurm launchers and inference APIs "
        'build them only through custom_imports.)')


def _is_local(path) -> bool:
    return isinstance(path, str) and '://' not in path


def _converter_fix(ckpt: str) -> str:
    return ('For torchvision or DINO ImageNet ResNet weights, convert them '
            f'first: {converter_command("SRC.pth", ckpt)} (SRC.pth: the '
            f'downloaded file; see {CONVERTER_DOC}).')


def check_pretrained_files(cfg) -> None:
    """Every local ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in
    ``cfg.model`` must name an existing file."""
    for path, d in _walk(cfg.get('model') or {}, 'model'):
        if d.get('type') != 'Pretrained':
            continue
        ckpt = d.get('checkpoint')
        if not ckpt:
            raise ConfigError(
                f'{path}.checkpoint is not set; pass it with --cfg-options '
                f'{path}.checkpoint=PATH/epoch_N.pth.')
        if _is_local(ckpt) and not osp.isfile(osp.expanduser(ckpt)):
            raise ConfigError(
                f'{path}.checkpoint={ckpt!r}: no such file. Point it at a '
                f'checkpoint of the pretraining run, e.g. --cfg-options '
                f'{path}.checkpoint=work_dirs/RUN/epoch_N.pth (the last one '
                'is named in work_dirs/RUN/last_checkpoint). ' +
                _converter_fix(ckpt))


def check_load_from_file(cfg) -> None:
    """A local ``load_from`` (also what ``--resume PATH`` sets) must name an
    existing file: mmengine would fail only after building everything, with
    a generic error."""
    ckpt = cfg.get('load_from')
    if not ckpt or not _is_local(ckpt) or osp.isfile(osp.expanduser(ckpt)):
        return
    if cfg.get('resume'):
        raise ConfigError(
            f'load_from={ckpt!r} (set by --resume PATH): no such file. Give '
            'an existing checkpoint of the run, or --resume without a path '
            'to continue from the work dir\'s last checkpoint.')
    raise ConfigError(
        f'load_from={ckpt!r}: no such file. Point it at an existing '
        'checkpoint (--cfg-options load_from=PATH). ' + _converter_fix(ckpt))


def _read_checkpoint(ckpt: str):
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(ckpt, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ConfigError(f'{ckpt} holds a {type(checkpoint).__name__}, '
                          'not a checkpoint dict or state_dict.')
    return checkpoint


def _state_dict_of(checkpoint: dict) -> dict:
    state = checkpoint.get('state_dict', checkpoint)
    return {(k[7:] if k.startswith('module.') else k): v
            for k, v in state.items()}


def _unreadable(key: str, ckpt: str, error: Exception) -> ConfigError:
    if 'argparse.Namespace' in str(error):
        # the ``args`` entry of a DINO training checkpoint
        return ConfigError(
            f'{key}={ckpt!r} needs argparse.Namespace to be loaded: it looks '
            "like a DINO training checkpoint (its 'args' entry is one), not "
            'an mmpretrain checkpoint. Convert it to mmpretrain keys first:'
            f'\n  {converter_command(ckpt)}\nand point {key} at the output '
            f'(see {CONVERTER_DOC}).')
    return ConfigError(f'{key}={ckpt!r} cannot be read as a checkpoint: '
                       f'{type(error).__name__}: {error}')


def _unconverted_hint(checkpoint, ckpt: str) -> str:
    """A line naming the converter when ``checkpoint`` is an unconverted
    torchvision/DINO file (empty otherwise)."""
    what = unconverted_source(checkpoint)
    if what is None:
        return ''
    return (f'{ckpt} is {what}. Convert it to mmpretrain keys first:\n  '
            f'{converter_command(ckpt)}\nand point the checkpoint at the '
            f'output (see {CONVERTER_DOC}).\n')


def _keys_line(label: str, keys: List[str], limit: int = 5) -> str:
    more = f' ... ({len(keys)} in all)' if len(keys) > limit else ''
    return f'  {label}: {", ".join(keys[:limit])}{more}\n'


def check_pretrained_keys(model) -> None:
    """Load every ``Pretrained`` init checkpoint of the built (not yet
    initialised) model and refuse it unless its keys and shapes match the
    module exactly. mmengine's ``PretrainedInit`` would only log a warning
    and train from partly random weights."""
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    for name, module in model.named_modules():
        init_cfg = getattr(module, 'init_cfg', None)
        for cfg in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
            if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                    and _is_local(cfg.get('checkpoint'))):
                continue
            key = f'model.{name}.init_cfg' if name else 'model.init_cfg'
            ckpt = osp.expanduser(cfg['checkpoint'])
            try:
                checkpoint = _read_checkpoint(ckpt)
            except ConfigError:
                raise
            except Exception as e:
                raise _unreadable(f'{key}.checkpoint', ckpt, e) from None
            state = _state_dict_of(checkpoint)
            prefix = cfg.get('prefix')
            if prefix:
                prefix = prefix if prefix.endswith('.') else prefix + '.'
                state = {k[len(prefix):]: v for k, v in state.items()
                         if k.startswith(prefix)}
                if not state:
                    raise ConfigError(
                        f'{key}: no key of {ckpt} starts with prefix='
                        f'{cfg["prefix"]!r}; it is not a checkpoint of a '
                        'model with that part (MixSSL checkpoints keep the '
                        "encoder under 'backbone.')." + (
                            '\n' + _unconverted_hint(checkpoint, ckpt))
                        .rstrip())
            own = module.state_dict()
            missing = sorted(k for k in own if k not in state
                             and 'num_batches_tracked' not in k)
            unexpected = sorted(k for k in state if k not in own)
            shapes = sorted(
                f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                for k in own if k in state and hasattr(state[k], 'shape')
                and tuple(state[k].shape) != tuple(own[k].shape))
            if missing or unexpected or shapes:
                raise ConfigError(
                    f'{key}: {ckpt} does not fit model.{name or ""} '
                    f'({type(module).__name__}):\n' +
                    (_keys_line('missing keys', missing) if missing else '')
                    + (_keys_line('unexpected keys', unexpected)
                       if unexpected else '') +
                    (_keys_line('shape mismatches', shapes) if shapes else '')
                    + _unconverted_hint(checkpoint, ckpt) +
                    'Use a checkpoint of the same architecture (e.g. the '
                    'same ResNet depth) and the right prefix, or set '
                    'strict_pretrained=False in the config (--cfg-options '
                    'strict_pretrained=False) to load what matches and keep '
                    'the rest random.')


def check_load_from_keys(cfg, model) -> None:
    """Refuse a ``load_from`` (not ``--resume``) that shares no key with the
    model: mmengine loads it non-strictly, logs the missing keys and trains
    from random weights (e.g. an unconverted torchvision file, whose
    ``conv1.weight`` is not the model's ``backbone.conv1.weight``)."""
    from mmengine.model import is_model_wrapper
    ckpt = cfg.get('load_from')
    if cfg.get('resume') or not ckpt or not _is_local(ckpt):
        return
    ckpt = osp.expanduser(ckpt)
    try:
        checkpoint = _read_checkpoint(ckpt)
    except ConfigError:
        raise
    except Exception as e:
        raise _unreadable('load_from', ckpt, e) from None
    state = _state_dict_of(checkpoint)
    if is_model_wrapper(model):
        model = model.module
    own = model.state_dict()
    if any(k in own for k in state):
        return
    raise ConfigError(
        f'load_from={ckpt!r}: none of its keys is a key of the model '
        f'({type(model).__name__}), so nothing would be loaded:\n' +
        _keys_line('its keys', sorted(state)) +
        _keys_line("the model's keys", sorted(own)) +
        _unconverted_hint(checkpoint, ckpt) +
        'Use a checkpoint of this model, or set strict_pretrained=False '
        '(--cfg-options strict_pretrained=False) to go on anyway.')


def _bloodmnist_md5_table() -> dict:
    tool = osp.join(REPO, 'tools', 'data', 'fetch_bloodmnist.py')
    if not osp.isfile(tool):
        return {}
    spec = importlib.util.spec_from_file_location('_fetch_bloodmnist', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.BLOODMNIST_MD5)


def check_medmnist_md5(dataset) -> None:
    """A file named like an official BloodMNIST file must be that file."""
    ann_file = getattr(dataset, 'ann_file', None)
    if type(dataset).__name__ != 'MedMNIST' or not ann_file:
        return
    official = _bloodmnist_md5_table().get(osp.basename(ann_file))
    if official is None:
        return
    digest = hashlib.md5()
    with open(ann_file, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    if digest.hexdigest() != official:
        raise ConfigError(
            f'{ann_file} is not the official {osp.basename(ann_file)}: its '
            f'md5 is {digest.hexdigest()}, the official one is {official}. '
            'The file is damaged or was replaced; fetch it again with '
            '`python tools/data/fetch_bloodmnist.py` (it checks the md5), or '
            'give your own data another file name.')


def check_target_images(dataset, cfg, logger=print):
    """Header-check every image file of the train dataset; refuse unreadable
    ones, or leave them out when ``data_check.skip_corrupt`` is set."""
    check = dict(images=True, skip_corrupt=False)
    check.update(cfg.get('data_check') or {})
    if not check['images']:
        return dataset
    indexed = dataset_image_paths(dataset)
    bad = unreadable_images([p for _, p in indexed])
    if not bad:
        return dataset
    if not check['skip_corrupt']:
        raise ConfigError(
            f'{len(bad)} training image file(s) cannot be read:\n'
            f'{format_bad_images(bad)}\nRemove or replace them, or set '
            'data_check = dict(skip_corrupt=True) in the config '
            '(--cfg-options data_check.skip_corrupt=True) to train without '
            'them.')
    bad_paths = {p for p, _ in bad}
    keep = [i for i, p in indexed if p not in bad_paths]
    if not keep:
        raise ConfigError('none of the training images can be read, e.g.:\n'
                          f'{format_bad_images(bad)}')
    logger(f'data_check.skip_corrupt=True: leaving out {len(bad)} '
           f'unreadable training image(s):\n{format_bad_images(bad)}')
    return dataset.get_subset(keep)


def preflight_dataset(cfg):
    """Build the train dataset (and so its pipeline, e.g. CrossDomainMixup
    and its auxiliary set) before the Runner, and check its files."""
    from mmengine.registry import DefaultScope

    from mmpretrain.registry import DATASETS
    loader = cfg.get('train_dataloader')
    if (cfg.get('train_cfg') is None or not isinstance(loader, dict)
            or not isinstance(loader.get('dataset'), dict)):
        return None
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    check_medmnist_md5(dataset)
    return check_target_images(
        dataset, cfg, logger=lambda m: print(f'tools/train.py: {m}',
                                             file=sys.stderr))


def _rank() -> int:
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0)))


def existing_checkpoints(work_dir: str) -> List[str]:
    if not osp.isdir(work_dir):
        return []
    return sorted(n for n in os.listdir(work_dir)
                  if n == 'last_checkpoint' or (
                      n.endswith('.pth')
                      and osp.isfile(osp.join(work_dir, n))))


def check_work_dir(cfg, overwrite: bool) -> List[str]:
    """A fresh run must not silently overwrite an earlier run's checkpoints.
    Returns the checkpoint files that ``--overwrite`` is to delete."""
    if cfg.get('resume'):
        return []
    work_dir = osp.abspath(cfg.work_dir)
    found = existing_checkpoints(work_dir)
    if not found or overwrite:
        return [osp.join(work_dir, name) for name in found]
    shown = ', '.join(found[:4]) + (' ...' if len(found) > 4 else '')
    raise ConfigError(
        f'{work_dir} already holds checkpoints of an earlier run ({shown}). '
        'Not overwriting them: pass --resume to continue that run, '
        '--work-dir DIR to start a new run elsewhere, or --overwrite to '
        'delete them and start over.')


# --------------------------------------------------------------------------
# the run, with cleanup when it fails before its first iteration
# --------------------------------------------------------------------------
class WorkDirGuard:
    """Remove what a run created in its work dir if it fails before its first
    training iteration completes: the Runner makes ``<work_dir>/<timestamp>/``
    and dumps the config as soon as it is constructed."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.existed = osp.isdir(self.work_dir)
        self.before = set(os.listdir(self.work_dir)) if self.existed else set()
        self.iters_done = 0

    def hook(self):
        from mmengine.hooks import Hook
        guard = self

        class _FirstIterDone(Hook):
            priority = 'LOWEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                guard.iters_done += 1

        return _FirstIterDone()

    def cleanup(self) -> List[str]:
        if not osp.isdir(self.work_dir):
            return []
        removed = []
        for name in sorted(set(os.listdir(self.work_dir)) - self.before):
            path = osp.join(self.work_dir, name)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass
            removed.append(name)
        if not self.existed:
            try:
                os.rmdir(self.work_dir)
                removed.append(self.work_dir)
            except OSError:
                pass
        return removed

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.iters_done == 0:
            removed = self.cleanup()
            if removed:
                print('tools/train.py: the run failed before its first '
                      f'iteration; removed what it had created in '
                      f'{self.work_dir}: {", ".join(removed)}',
                      file=sys.stderr)
        return False


def delete_for_overwrite(paths: List[str]) -> None:
    """``--overwrite``: delete the earlier run's checkpoints (rank 0 only),
    once every pre-flight check has passed."""
    if not paths or _rank() != 0:
        return
    for path in paths:
        if osp.isfile(path):
            os.remove(path)
    print('tools/train.py: --overwrite: deleted '
          f'{", ".join(osp.basename(p) for p in paths)} in '
          f'{osp.dirname(paths[0])}', file=sys.stderr)
