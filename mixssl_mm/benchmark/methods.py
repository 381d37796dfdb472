# Copyright (c) mixssl_mm contributors. All rights reserved.
"""What the benchmark runs (docs/benchmark.md): :data:`METHODS`, the shipped
defaults of fitting any SSL config to a run (a ``--methods`` config is added
by :func:`add_config_method`), its groups, the downstream configs, the
protocol names, and the config walkers that set a resolution. Config paths
are relative to the repository root.
"""
import importlib.util
import os
import os.path as osp
import re
from collections import OrderedDict
from functools import partial
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mixssl_mm.preflight.channels import resnet_out_channels
from mixssl_mm.preflight.config import config_dicts
from mixssl_mm.preflight.dataloaders import LOADERS

_PRETRAIN = 'configs/{0}/{0}_resnet50_1xb64-20e_bloodmnist.py'
_ABL = 'configs/mixssl/ablations/mixssl-{}_resnet50_1xb64-20e_bloodmnist.py'
_DESIGN = 'configs/mixssl/design_choices/{}_resnet50_1xb64-{}20e_bloodmnist.py'
# SimCLR-style projectors: hidden width = feature width (as with ResNet-50);
# the settings that READ the encoder are found in each config
_PROJECTOR = ('model.neck.hid_channels', )
MMPRETRAIN_SCHEME = 'mmpretrain::'  # a config of mmpretrain's own


def mmpretrain_config_dir() -> str:
    """``<mmpretrain>/.mim/configs``, found without importing mmpretrain."""
    spec = importlib.util.find_spec('mmpretrain')
    return osp.join(osp.dirname(spec.origin), '.mim', 'configs')


def resolve_config(spec: str) -> str:
    """``mmpretrain::simsiam/x.py`` -> the installed file; a path as given."""
    if spec.startswith(MMPRETRAIN_SCHEME):
        return osp.join(mmpretrain_config_dir(), spec[len(MMPRETRAIN_SCHEME):])
    return spec


def channel_options(config: Optional[str], extra: Sequence[str],
                    channels: int) -> Dict[str, int]:
    """``{key: channels}`` for the readers of the encoder in ``config``
    (:func:`~.config_fit.channel_keys`), then ``extra``, in command order."""
    keys = []
    if config:
        from .config_fit import channel_keys
        from .stage_configs import load_config
        keys = channel_keys(load_config(config))
    return {k: channels for k in list(keys) + list(extra)}


def _entry(name: str, config=None, keys: Sequence[str] = (), **extra):
    """A METHODS entry: display ``name``, pretraining ``config`` (or None),
    ``channels(c)``: cfg-options fitting its readers (and ``keys``) to ``c``
    channels; ``extra``: ``objective`` (Table 3), ``design`` (an open choice
    of the paper), ``external`` (fine-tunes ``--imagenet-ckpt``), ``spec``
    (its ``--methods`` token)."""
    config = resolve_config(config) if config else config
    return dict(
        name=name,
        config=config,
        channels=partial(channel_options, config, tuple(keys)),
        **extra)


METHODS = OrderedDict([
    ('mixssl',
     _entry(
         'MixSSL',
         'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py',
         objective='R+T')),
    ('simclr', _entry('SimCLR', _PRETRAIN.format('simclr'), _PROJECTOR)),
    ('mocov2', _entry('MoCo v2', _PRETRAIN.format('mocov2'), _PROJECTOR)),
    ('byol', _entry('BYOL', _PRETRAIN.format('byol'))),
    ('rand', _entry('Rand')),
    # the paper's other Table-1 rows (mixssl_mm's implementations)
    ('rotation', _entry('Rotation', _PRETRAIN.format('rotation'))),
    ('mixup_simclr',
     _entry('Mixup+SimCLR', _PRETRAIN.format('mixup-simclr'), _PROJECTOR)),
    ('mixco', _entry('MixCo', _PRETRAIN.format('mixco'), _PROJECTOR)),
    ('dino', _entry('DINO', _PRETRAIN.format('dino'))),
    # fine-tuned straight from converted ImageNet weights (--imagenet-ckpt)
    ('imagenet_self', _entry('ImageNet-self', external=True)),
    # Table 3: MixSSL's objectives (R+T is `mixssl`)
    ('mixssl_r', _entry('R only', _ABL.format('r'), objective='R')),
    ('mixssl_t', _entry('T only', _ABL.format('t'), objective='T')),
    ('mixssl_rc',
     _entry(
         'R+C',
         _ABL.format('rc'), ('model.contrast_neck.hid_channels', ),
         objective='R+C')),
    ('mixssl_ra', _entry('R+A', _ABL.format('ra'), objective='R+A')),
])
# the paper's open choices: MixSSL (R+T) with one key changed; the `mixssl`
# row is the paper's reading of each but λ (per sample since issue 18;
# `mixssl_lambatch` is the paper's one λ per batch)
for _key, _name, _file, _design in [
    ('pix01', 'rec. in 0–1', ('mixssl-pix01', ''),
     'pixel space of reconstruction'),
    ('cycleganinit', 'CycleGAN init', ('mixssl-cycleganinit', ''),
     'decoder initialisation'),
    ('lambatch', 'λ per batch', ('mixssl-lambatch', ''),
     'λ per batch or per sample'),
    ('auxzoom', 'zoomed aux crops', ('mixssl-auxzoom', ''), 'auxiliary crops'),
    ('coslr', 'cosine lr', ('mixssl', 'coslr-'), 'learning-rate schedule'),
]:
    METHODS[f'mixssl_{_key}'] = _entry(
        f'MixSSL ({_name})', _DESIGN.format(*_file), design=_design)
# mmpretrain 1.2's ResNet self-supervised methods from its own installed
# configs (no copies), fitted like any --methods config (config_fit.py)
MMPRETRAIN_CONFIGS = OrderedDict(
    simclr=('SimCLR', 'simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py'),
    mocov2=('MoCo v2', 'mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'),
    mocov3=('MoCo v3', 'mocov3/mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py'),
    byol=('BYOL', 'byol/byol_resnet50_16xb256-coslr-200e_in1k.py'),
    simsiam=('SimSiam', 'simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py'),
    barlowtwins=('Barlow Twins',
                 'barlowtwins/barlowtwins_resnet50_8xb256-coslr-300e_in1k.py'),
    swav=('SwAV',
          'swav/swav_resnet50_8xb32-mcrop-coslr-200e_in1k-224px-96px.py'),
    densecl=('DenseCL', 'densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py'),
    spark=('SparK',
           'spark/spark_sparse-resnet50_8xb512-amp-coslr-800e_in1k.py'),
)
for _key, (_name, _path) in MMPRETRAIN_CONFIGS.items():
    METHODS[f'mm_{_key}'] = _entry(f'{_name} (mmpretrain)',
                                   MMPRETRAIN_SCHEME + _path)
# `--methods` accepts these names too
METHOD_GROUPS = OrderedDict(
    builtin=['mixssl', 'simclr', 'mocov2', 'byol', 'rand'],
    table1=[
        'rand', 'simclr', 'dino', 'mocov2', 'rotation', 'imagenet_self',
        'mixup_simclr', 'mixco', 'mixssl'
    ],
    ablations=['mixssl_t', 'mixssl_r', 'mixssl', 'mixssl_rc', 'mixssl_ra'],
    # the paper's reading (mixssl) and one row per open choice
    design=['mixssl'] + [m for m in METHODS if METHODS[m].get('design')],
    mmpretrain=[f'mm_{k}' for k in MMPRETRAIN_CONFIGS],
)
# Table 1 and Table 3 (the design variants are asked for by `design`)
METHOD_GROUPS['all'] = [
    m for m in METHODS if m != 'imagenet_self' and not METHODS[m].get('design')
    and m not in METHOD_GROUPS['mmpretrain']
]


def mixes_images(method: str) -> bool:
    """Whether ``method`` trains on mixed images (MixSSL, its objectives
    and design variants): it takes auxiliary images and an input size
    divisible by the encoder's stride."""
    m = METHODS[method]
    return bool(m.get('objective') or m.get('design'))


# what each objective of Table 3 trains
OBJECTIVE_LOSSES = {
    'T': 'L_trans',
    'R': 'L_rec',
    'R+T': 'L_rec + γ·L_trans',
    'R+C': 'L_rec + InfoNCE(two mixes of x_t)',
    'R+A': 'L_rec + CE(auxiliary class)',
}
# Downstream configs: (fine-tune, linear probe) per task.
_DOWN = 'configs/mixssl/benchmarks/resnet50_1xb64-20e_bloodmnist{}.py'
DOWNSTREAM = {
    task:
    dict(
        finetune=_DOWN.format(f'{tag}_finetune'),
        linear=_DOWN.format(f'{tag}_linear-probe'))
    for task, tag in (('4', '-4cls'), ('8', ''))
}
# knn: one 0-epoch stage with KNNEvalHook on the frozen encoder
PROTOCOLS = OrderedDict(
    finetune='Fine-tune', linear='Linear probe', knn='k-NN')
TRAINED_PROTOCOLS = ('finetune', 'linear')
# label fractions are protocols ``finetune_<percent>pct`` (``finetune_1pct``;
# 100 % is ``finetune``): stage folders, results.csv's ``protocol`` column
FRACTION_BASE = 'finetune'


def percent(fraction: float) -> str:
    """``0.01`` -> ``'1'``, ``0.005`` -> ``'0.5'`` (no float noise)."""
    return format(round(fraction * 100, 6), 'g')


def fraction_protocol(fraction: float) -> str:
    """The protocol key of fine-tuning on ``fraction`` of the labels."""
    if fraction >= 1.0:
        return FRACTION_BASE
    return f'{FRACTION_BASE}_{percent(fraction)}pct'


def split_protocol(key: str) -> Tuple[str, Optional[float]]:
    """``'finetune_10pct'`` -> ``('finetune', 0.1)``; ``'knn'`` ->
    ``('knn', None)``."""
    base, _, rest = key.partition('_')
    if rest.endswith('pct') and base in PROTOCOLS:
        try:
            return base, float(rest[:-3]) / 100
        except ValueError:
            pass
    return key, None


def base_protocol(key: str) -> str:
    """The protocol whose configs and settings a key uses."""
    return split_protocol(key)[0]


def protocol_title(key: str, fractions_shown: bool = False) -> str:
    """``'Fine-tune, 10 % of the labels'``; the full fine-tune reads
    ``'Fine-tune, 100 % of the labels'`` with ``fractions_shown``."""
    base, fraction = split_protocol(key)
    title = PROTOCOLS.get(base, base)
    if fraction is not None:
        return f'{title}, {percent(fraction)} % of the labels'
    if fractions_shown and base == FRACTION_BASE:
        return f'{title}, 100 % of the labels'
    return title


def has_fractions(keys: Iterable[str]) -> bool:
    """Whether any key is a label-fraction protocol."""
    return any(split_protocol(k)[1] is not None for k in keys)


def ordered_protocols(keys: Iterable[str]) -> List[str]:
    """The distinct ``keys`` in :data:`PROTOCOLS` order (unknown last),
    fine-tune fractions smallest first, before the full fine-tune."""
    order = list(PROTOCOLS)

    def rank(key):
        base, fraction = split_protocol(key)
        pos = order.index(base) if base in order else len(order)
        return pos, 2.0 if fraction is None else fraction, key

    return sorted(set(keys), key=rank)


def method_cli_name(key: str) -> str:
    """METHODS key -> ``--methods`` spelling (``mixup_simclr`` ->
    ``mixup-simclr``)."""
    return key.replace('_', '-')


def add_config_method(token: str) -> str:
    """Add the config of a ``--methods`` token (``NAME=CONFIG``, or a bare
    config named by its file) to :data:`METHODS`; its key.

    Raises:
        SystemExit: no such file; an empty or taken name.
    """
    name, _, spec = token.rpartition('=')
    path = resolve_config(spec)
    if not osp.isfile(path):
        where = (f' (mmpretrain\'s configs are in {mmpretrain_config_dir()})'
                 if spec.startswith(MMPRETRAIN_SCHEME) else '')
        raise SystemExit(f'--methods {token}: no config file {path}{where}.')
    name = name or osp.splitext(osp.basename(path))[0]
    key = re.sub(r'[^0-9A-Za-z_.]', '_', name)
    if not key.strip('_'):
        raise SystemExit(f'--methods {token}: give a display name, '
                         'NAME=CONFIG.')
    known = METHODS.get(key)
    if known is not None and known.get('spec') == token:
        return key
    if known is not None or key in METHOD_GROUPS:
        raise SystemExit(
            f'--methods {token}: the name {name!r} is taken by a '
            f'{"group" if key in METHOD_GROUPS else "method"}; give another '
            'one, NAME=CONFIG.')
    METHODS[key] = _entry(name, path, spec=token)
    return key


def expand_methods(names: Sequence[str]) -> List[str]:
    """``--methods`` names, groups and configs (``NAME=CONFIG``, an
    ``mmpretrain::`` config, a ``.py`` file or a path) -> METHODS keys, in
    order, once each.

    Raises:
        SystemExit: neither a method nor a group nor a config.
    """
    out = []
    for n in names:
        if ('=' in n or n.startswith(MMPRETRAIN_SCHEME) or n.endswith('.py')
                or '/' in n or os.sep in n):
            keys = [add_config_method(n)]
        else:
            keys = METHOD_GROUPS.get(
                n.replace('-', '_'), [n.replace('-', '_')])
        for k in keys:
            if k not in METHODS:
                raise SystemExit(
                    f'unknown method {n!r}; choose from '
                    f'{[method_cli_name(m) for m in METHODS]}, a group '
                    f'{list(METHOD_GROUPS)} or a self-supervised config: '
                    f'{MMPRETRAIN_SCHEME}<dir>/<file>.py, a file, or '
                    'NAME=CONFIG')
            if k not in out:
                out.append(k)
    return out


def feature_channels(depth: int) -> int:
    """Output channels of mmpretrain's ResNet-<depth> last stage."""
    return resnet_out_channels(dict(type='ResNet', depth=depth))


# transform type -> its size argument
_SIZE_TRANSFORMS = {
    'RandomResizedCrop': 'scale',
    'Resize': 'scale',
    'CenterCrop': 'crop_size',
    'RandomCrop': 'crop_size',
}
# the configs' full input size; smaller crops (DINO's 96-px local views)
# are scaled with it
CONFIG_SIZE = 224


def scaled_size(old: int, size: int, full: int = CONFIG_SIZE) -> int:
    """``size`` for a full-size crop (``old >= full``); a smaller one keeps
    its ratio to ``full`` (DINO: 96 -> 27 at 64 px of 224)."""
    return size if old >= full else max(1, round(old * size / full))


def plain(value):
    """ConfigDicts -> dicts, recursively (lists and tuples kept)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def walk_transforms(cfg, loaders: Sequence[str], kinds=None):
    """``(cfg-option key, transform)`` of every transform (of a type in
    ``kinds``, default any) in the pipelines of ``loaders`` (absent ones
    skipped), nested ones (MultiView views, MixSSL's auxiliary pipeline)
    included, in config order."""
    for loader in loaders:
        for path, d in config_dicts(cfg.get(loader) or {}, loader):
            if kinds is None or d.get('type') in kinds:
                yield path, d


def _size_entries(cfg, loaders: Sequence[str]):
    for path, t in walk_transforms(cfg, loaders, _SIZE_TRANSFORMS):
        key = _SIZE_TRANSFORMS[t['type']]
        if key in t:
            yield f'{path}.{key}', t[key]


def largest_size(cfg, loaders: Sequence[str] = LOADERS) -> int:
    """The largest resize/crop size (px) in the pipelines of ``loaders``;
    0 when there is none."""
    sizes = [0]
    for _, old in _size_entries(cfg, loaders):
        sizes += list(old) if isinstance(old, (list, tuple)) else [old]
    return max(sizes)


def resolution_options(cfg,
                       size: int,
                       loaders: Sequence[str] = LOADERS,
                       full: int = CONFIG_SIZE) -> 'OrderedDict':
    """cfg-options setting every resize/crop of ``loaders`` (nested ones
    included) of ``cfg`` (a Config or dict) to ``size`` px, smaller crops
    keeping their ratio to ``full`` px; a tuple size stays a tuple."""
    out = OrderedDict()
    for key, old in _size_entries(cfg, loaders):
        out[key] = tuple(scaled_size(o, size, full) for o in old) \
            if isinstance(old, (list, tuple)) else scaled_size(old, size, full)
    return out
