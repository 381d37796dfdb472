# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of the checkpoints an entry point loads: every
``Pretrained`` ``init_cfg``, ``load_from``, the ``--resume`` checkpoint and
the checkpoint given to ``tools/test.py`` must name an existing file
(checked before the Runner is built) whose keys and shapes fit the built
model (checked after, before any weight is initialised or loaded). mmengine
would only log the mismatches and go on from partly random weights. An
unconverted torchvision/DINO file is named with the converter command
(docs/model_converters.md). ``strict_pretrained = False`` in the config turns
the fit checks off (stock mmengine loading)."""
import os.path as osp

from mixssl_mm.converters.resnet import DOC as CONVERTER_DOC
from mixssl_mm.converters.resnet import converter_command, unconverted_source
from mixssl_mm.utils.checkpoint import (NotACheckpointError, compare_keys,
                                        format_keys, latest_checkpoint,
                                        mismatch_lines,
                                        newest_intact_checkpoint,
                                        read_checkpoint, state_dict_of,
                                        trained_steps)
from .config import config_dicts, is_local
from .error import ConfigError

__all__ = [
    'check_pretrained_files', 'check_load_from_file', 'check_pretrained_keys',
    'check_load_from_keys', 'check_resume_file', 'check_trained'
]

OPT_OUT = ('set strict_pretrained=False in the config (--cfg-options '
           'strict_pretrained=False) to load what fits and keep the rest '
           'as it is')


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


def check_load_from_file(cfg, tool: str = 'train') -> None:
    """A local ``load_from`` (also what ``--resume PATH`` sets, and the
    CHECKPOINT argument of ``tools/test.py``, ``tool='test'``) must name an
    existing file: mmengine would fail only after building everything, with
    a generic error.

    Raises:
        ConfigError: no such file.
    """
    ckpt = cfg.get('load_from')
    if not ckpt or not is_local(ckpt) or osp.isfile(osp.expanduser(ckpt)):
        return
    if tool == 'test':
        raise ConfigError(
            f'CHECKPOINT {ckpt!r} (the checkpoint to test): no such file. '
            'Give a checkpoint of a training run of this config, e.g. '
            'work_dirs/RUN/epoch_N.pth (the last one is named in '
            'work_dirs/RUN/last_checkpoint).')
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
        if str(e).startswith('refusing to load checkpoint'):
            raise  # compat's short weights-only refusal, as it is
        raise ConfigError(f'{key}={ckpt!r} cannot be read as a checkpoint: '
                          f'{type(e).__name__}: {e}') from None


def check_trained(checkpoint: dict, key: str, ckpt: str) -> None:
    """Refuse a checkpoint saved before any optimizer step (``meta['iter']
    == 0``, e.g. by a run whose epochs had no batch): its weights are the
    initial ones, and loading it as pretrained would hide that.

    Raises:
        ConfigError: naming the file and what to load instead.
    """
    if trained_steps(checkpoint) == 0:
        raise ConfigError(
            f'{key}={ckpt!r} was saved at iteration 0, by a run that never '
            'took an optimizer step: its weights are the initial ones, not '
            'trained ones. Load a checkpoint of a run that trained (its log '
            'has training lines; meta.iter > 0), or train that run again '
            'with at least one batch per epoch.')


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
    """The module a checkpoint is loaded into: without DDP-style wrappers
    and test-time-augmentation wrappers, as mmengine's ``load_state_dict``
    unwraps them."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_pretrained_keys(model) -> None:
    """Load every ``Pretrained`` init checkpoint of the built (not yet
    initialised) model and refuse it unless its keys and shapes match the
    module exactly.

    Raises:
        ConfigError: unreadable, no key with the ``prefix``, or missing /
            unexpected / shape-mismatched keys (listed, checkpoint vs model).
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
            check_trained(checkpoint, f'{key}.checkpoint', ckpt)
            state = state_dict_of(checkpoint)
            prefix = cfg.get('prefix')
            if prefix:
                prefix = prefix if prefix.endswith('.') else prefix + '.'
                state = {
                    k[len(prefix):]: v
                    for k, v in state.items() if k.startswith(prefix)
                }
                if not state:
                    raise ConfigError(
                        f'{key}: no key of {ckpt} starts with prefix='
                        f'{cfg["prefix"]!r}; it is not a checkpoint of a '
                        'model with that part (MixSSL checkpoints keep the '
                        "encoder under 'backbone.')." +
                        ('\n' + _unconverted_hint(checkpoint, ckpt)).rstrip())
            missing, unexpected, shapes = compare_keys(module.state_dict(),
                                                       state)
            if missing or unexpected or shapes:
                raise ConfigError(
                    f'{key}: the checkpoint {ckpt} does not fit the model\'s '
                    f'{name or "model"} ({type(module).__name__}):\n' +
                    mismatch_lines(missing, unexpected, sorted(shapes)) +
                    _unconverted_hint(checkpoint, ckpt) +
                    'Use a checkpoint of the same architecture (e.g. the '
                    f'same ResNet depth) and the right prefix, or {OPT_OUT}.')


def _part(key: str) -> str:
    return key.split('.', 1)[0]


def _carried_parts(own: dict, state: dict):
    """``own`` and ``state`` restricted to the model's top-level parts
    (``backbone``, ``neck``, ``head``, ...) that ``state`` has a key of."""
    parts = {_part(k) for k in state} & {_part(k) for k in own}
    return ({
        k: v
        for k, v in own.items() if _part(k) in parts
    }, {
        k: v
        for k, v in state.items() if _part(k) in parts
    })


def _resume_file(cfg):
    """What ``--resume`` will load: the path given, else the work dir's
    latest checkpoint (None: mmengine starts a new run, as it documents for
    ``--resume`` in an empty work dir)."""
    if cfg.get('load_from'):
        return cfg.load_from
    return latest_checkpoint(osp.abspath(cfg.work_dir))


def _read_error(path: str):
    """Why ``path`` cannot be read (None: it can); the plugin's refusal of
    a crafted file is raised as it is."""
    try:
        read_checkpoint(path)
    except Exception as e:  # noqa: B902  any unreadable file
        if str(e).startswith('refusing to load checkpoint'):
            raise  # the compat fix's short weights-only refusal, as it is
        lines = str(e).strip().splitlines()
        return f'{type(e).__name__}: {lines[0] if lines else ""}'
    return None


def check_resume_file(cfg, report=print) -> None:
    """Before the Runner: the checkpoint ``--resume`` continues must be
    readable (a run killed by a full disk or a copy cut short leaves a
    truncated newest file).

    - ``--resume`` (auto): the work dir's latest checkpoint
      (``last_checkpoint``, else the newest ``epoch_N``/``iter_N.pth``) is
      set as ``cfg.load_from``, so mmengine resumes exactly that file; when
      it cannot be read, the newest intact checkpoint of the work dir is
      used instead, with a warning (``report``).
    - ``--resume PATH``: an unreadable PATH is refused, naming the newest
      intact checkpoint of its folder and of the work dir and the
      ``--resume`` command that continues it.

    Raises:
        ConfigError: an unreadable ``--resume PATH``, or an unreadable
            latest checkpoint with no intact one to fall back on.
    """
    if not cfg.get('resume'):
        return
    work_dir = osp.abspath(cfg.work_dir)
    given = cfg.get('load_from')
    path = given or latest_checkpoint(work_dir)
    if not path or not is_local(path):
        return
    path = osp.expanduser(path)
    error = _read_error(path)
    if error is None:
        cfg.load_from = path
        return
    folders = [osp.dirname(osp.abspath(path))]
    if work_dir not in folders:
        folders.append(work_dir)
    intact = None
    for folder in folders:
        intact = newest_intact_checkpoint(folder, skip=[path])
        if intact is not None:
            break
    if given:
        raise ConfigError(
            f'--resume {path}: the checkpoint cannot be read ({error}); it '
            'is damaged or was cut short. ' +
            (f'The newest intact checkpoint is {intact}: continue from it '
             f'with --resume {intact}' if intact else
             f'No intact checkpoint is left in {" or ".join(folders)}: '
             'start over with --overwrite (or another --work-dir)') + '.')
    if intact is None:
        raise ConfigError(
            f'--resume: the latest checkpoint of {work_dir}, {path}, cannot '
            f'be read ({error}), and no other checkpoint there is intact. '
            'Start over with --overwrite (or another --work-dir).')
    report(f'WARNING: --resume: the latest checkpoint {path} cannot be read '
           f'({error}); resuming from the newest intact one, {intact}. The '
           'iterations after it are trained again.')
    cfg.load_from = intact


def check_load_from_keys(cfg, model, tool: str = 'train') -> None:
    """The checkpoint mmengine is about to load into the built ``model``
    must fit it (mmengine loads non-strictly: it logs the mismatches and goes
    on from partly random weights):

    - ``tool='test'``: the CHECKPOINT of ``tools/test.py`` must hold every
      key of the model with the model's shape (keys the model lacks are
      ignored, as mmengine ignores them);
    - ``--resume`` (``cfg.resume``): the checkpoint (the path given, else
      the work dir's latest) must be one of a training run (``meta`` with
      epoch and iteration; always checked) with exactly the model's keys
      and shapes;
    - ``load_from``: at least one key in common, and every part of the model
      it carries (``backbone``, ``neck``, ``head``, ...) whole, with the
      model's shapes; parts it does not carry keep their initialisation
      (e.g. a converted backbone-only file into a classifier).

    ``strict_pretrained=False`` turns off all but the ``meta`` check.

    Raises:
        ConfigError: unreadable, or not fitting (keys listed, checkpoint vs
            model).
    """
    resume = tool == 'train' and bool(cfg.get('resume'))
    ckpt = _resume_file(cfg) if resume else cfg.get('load_from')
    if not ckpt or not is_local(ckpt):
        return
    ckpt = osp.expanduser(ckpt)
    key = 'CHECKPOINT' if tool == 'test' else (
        '--resume' if resume else 'load_from')
    checkpoint = _load(key, ckpt)
    if not resume:
        check_trained(checkpoint, key, ckpt)
    if resume and not {'epoch', 'iter'} <= set(checkpoint.get('meta') or {}):
        raise ConfigError(
            f'--resume: {ckpt} holds weights only (no meta with the epoch '
            'and iteration), not a checkpoint of a training run, so there '
            'is nothing to resume. To start a new run from its weights, '
            f'drop --resume and pass --cfg-options load_from={ckpt}')
    if not cfg.get('strict_pretrained', True):
        return
    state = state_dict_of(checkpoint)
    model = _unwrap(model)
    own = model.state_dict()
    what = f'the model ({type(model).__name__})'
    if tool == 'test':
        missing, _, shapes = compare_keys(own, state)
        if missing or shapes:
            raise ConfigError(
                f'tools/test.py: the checkpoint {ckpt} does not fit {what} '
                'of the config; testing it would score partly random '
                'weights:\n' + mismatch_lines(missing, [], shapes) +
                _unconverted_hint(checkpoint, ckpt) +
                'Test it with the config it was trained with (the same '
                'model.backbone.depth, model.head.num_classes, ...), or '
                f'{OPT_OUT}.')
        return
    if resume:
        lines = mismatch_lines(*compare_keys(own, state))
        if lines:
            raise ConfigError(
                f'--resume: the checkpoint {ckpt} is not one of {what}; '
                'resuming would go on with partly random weights:\n' + lines +
                'Resume with the config that run was trained with, '
                'or start a new run (--work-dir DIR, or --overwrite), or '
                f'{OPT_OUT}.')
        return
    if not any(k in own for k in state):
        raise ConfigError(
            f'load_from={ckpt!r}: none of its keys is a key of the model '
            f'({type(model).__name__}), so nothing would be loaded:\n' +
            _keys_line('its keys', sorted(state)) +
            _keys_line("the model's keys", sorted(own)) +
            _unconverted_hint(checkpoint, ckpt) +
            'Use a checkpoint of this model, or set strict_pretrained=False '
            '(--cfg-options strict_pretrained=False) to go on anyway.')
    own, state = _carried_parts(own, state)
    lines = mismatch_lines(*compare_keys(own, state))
    if lines:
        parts = ', '.join(sorted({_part(k) for k in state}))
        raise ConfigError(
            f'load_from={ckpt!r}: the checkpoint does not fit {what} in the '
            f'parts it carries ({parts}); mmengine would load what fits and '
            'keep the rest as initialised:\n' + lines +
            _unconverted_hint(checkpoint, ckpt) +
            'Use a checkpoint of the same architecture (e.g. the same '
            'model.backbone.depth). To start only the encoder from a '
            "pretraining checkpoint, use model.backbone.init_cfg=dict(type="
            "'Pretrained', checkpoint=PATH, prefix='backbone.') instead of "
            f'load_from. Or {OPT_OUT}.')
