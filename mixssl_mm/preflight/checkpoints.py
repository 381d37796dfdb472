# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of the checkpoints a config loads: every ``Pretrained``
``init_cfg`` and ``load_from`` must name an existing file (checked before
the Runner is built) whose keys and shapes fit the built model (checked
after, before any weight is initialised). mmengine would only log a warning
and train from partly random weights. An unconverted torchvision/DINO file is
named with the converter command (docs/model_converters.md)."""
import os.path as osp

from mixssl_mm.converters.resnet import DOC as CONVERTER_DOC
from mixssl_mm.converters.resnet import converter_command, unconverted_source
from mixssl_mm.utils.checkpoint import (NotACheckpointError, compare_keys,
                                        format_keys, read_checkpoint,
                                        state_dict_of)
from .config import config_dicts, is_local
from .error import ConfigError

__all__ = ['check_pretrained_files', 'check_load_from_file',
           'check_pretrained_keys', 'check_load_from_keys']


def _converter_fix(ckpt: str) -> str:
    return ('For torchvision or DINO ImageNet ResNet weights, convert them '
            f'first: {converter_command("SRC.pth", ckpt)} (SRC.pth: the '
            f'downloaded file; see {CONVERTER_DOC}).')


def check_pretrained_files(cfg) -> None:
    """Every local ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in
    ``cfg.model`` must name an existing file.

    Raises:
        ConfigError: the checkpoint is unset or no such file.
    """
    for path, d in config_dicts(cfg.get('model') or {}, 'model'):
        if d.get('type') != 'Pretrained':
            continue
        ckpt = d.get('checkpoint')
        if not ckpt:
            raise ConfigError(
                f'{path}.checkpoint is not set; pass it with --cfg-options '
                f'{path}.checkpoint=PATH/epoch_N.pth.')
        if is_local(ckpt) and not osp.isfile(osp.expanduser(ckpt)):
            raise ConfigError(
                f'{path}.checkpoint={ckpt!r}: no such file. Point it at a '
                f'checkpoint of the pretraining run, e.g. --cfg-options '
                f'{path}.checkpoint=work_dirs/RUN/epoch_N.pth (the last one '
                'is named in work_dirs/RUN/last_checkpoint). ' +
                _converter_fix(ckpt))


def check_load_from_file(cfg) -> None:
    """A local ``load_from`` (also what ``--resume PATH`` sets) must name an
    existing file: mmengine would fail only after building everything, with
    a generic error.

    Raises:
        ConfigError: no such file.
    """
    ckpt = cfg.get('load_from')
    if not ckpt or not is_local(ckpt) or osp.isfile(osp.expanduser(ckpt)):
        return
    if cfg.get('resume'):
        raise ConfigError(
            f'load_from={ckpt!r} (set by --resume PATH): no such file. Give '
            'an existing checkpoint of the run, or --resume without a path '
            'to continue from the work dir\'s last checkpoint.')
    raise ConfigError(
        f'load_from={ckpt!r}: no such file. Point it at an existing '
        'checkpoint (--cfg-options load_from=PATH). ' + _converter_fix(ckpt))


def _load(key: str, ckpt: str) -> dict:
    """``read_checkpoint`` with every failure as a ConfigError naming
    ``key``; a DINO training checkpoint (refused for its ``args``) is named
    with the converter command."""
    try:
        return read_checkpoint(ckpt)
    except NotACheckpointError as e:
        raise ConfigError(str(e)) from None
    except Exception as e:
        if 'argparse.Namespace' in str(e):
            # the ``args`` entry of a DINO training checkpoint
            raise ConfigError(
                f'{key}={ckpt!r} needs argparse.Namespace to be loaded: it '
                "looks like a DINO training checkpoint (its 'args' entry is "
                'one), not an mmpretrain checkpoint. Convert it to '
                'mmpretrain keys first:'
                f'\n  {converter_command(ckpt)}\nand point {key} at the '
                f'output (see {CONVERTER_DOC}).') from None
        raise ConfigError(f'{key}={ckpt!r} cannot be read as a checkpoint: '
                          f'{type(e).__name__}: {e}') from None


def _unconverted_hint(checkpoint, ckpt: str) -> str:
    """A line naming the converter when ``checkpoint`` is an unconverted
    torchvision/DINO file (empty otherwise)."""
    what = unconverted_source(checkpoint)
    if what is None:
        return ''
    return (f'{ckpt} is {what}. Convert it to mmpretrain keys first:\n  '
            f'{converter_command(ckpt)}\nand point the checkpoint at the '
            f'output (see {CONVERTER_DOC}).\n')


def _keys_line(label: str, keys) -> str:
    return format_keys(label, keys) + '\n'


def _unwrap(model):
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def check_pretrained_keys(model) -> None:
    """Load every ``Pretrained`` init checkpoint of the built (not yet
    initialised) model and refuse it unless its keys and shapes match the
    module exactly.

    Raises:
        ConfigError: unreadable, no key with the ``prefix``, or missing /
            unexpected / shape-mismatched keys (listed).
    """
    for name, module in _unwrap(model).named_modules():
        init_cfg = getattr(module, 'init_cfg', None)
        for cfg in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
            if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                    and is_local(cfg.get('checkpoint'))):
                continue
            key = f'model.{name}.init_cfg' if name else 'model.init_cfg'
            ckpt = osp.expanduser(cfg['checkpoint'])
            checkpoint = _load(f'{key}.checkpoint', ckpt)
            state = state_dict_of(checkpoint)
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
            missing, unexpected, shapes = compare_keys(module.state_dict(),
                                                       state)
            if missing or unexpected or shapes:
                raise ConfigError(
                    f'{key}: {ckpt} does not fit model.{name or ""} '
                    f'({type(module).__name__}):\n' +
                    (_keys_line('missing keys', missing) if missing else '')
                    + (_keys_line('unexpected keys', unexpected)
                       if unexpected else '') +
                    (_keys_line('shape mismatches', sorted(shapes))
                     if shapes else '')
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
    ``conv1.weight`` is not the model's ``backbone.conv1.weight``).

    Raises:
        ConfigError: unreadable, or not one key in common.
    """
    ckpt = cfg.get('load_from')
    if cfg.get('resume') or not ckpt or not is_local(ckpt):
        return
    ckpt = osp.expanduser(ckpt)
    checkpoint = _load('load_from', ckpt)
    state = state_dict_of(checkpoint)
    model = _unwrap(model)
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
