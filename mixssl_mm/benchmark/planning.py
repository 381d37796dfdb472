# Copyright (c) mixssl_mm contributors. All rights reserved.
"""THE STAGE LIST: parsed arguments -> per (method, seed) chain a list of
:class:`Stage`::

    pretrain -> fine-tune -> test        (Rand: no pretraining)
             -> fine-tune on a label fraction -> test    (--label-fractions)
             -> linear probe -> test
             -> k-NN                     (a 0-epoch run with KNNEvalHook)

Every stage is ``python -m mixssl_mm.apis.train|test`` on a shipped config
(relative to the repository root) or a generated wrapper of it
(:mod:`.stage_configs`), with ``--cfg-options`` from the preset and the
arguments, all checked here before any stage runs.
"""
import copy
import hashlib
import json
import math
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mixssl_mm.datasets.utils.natural_photos import benchmark_pool
from mixssl_mm.preflight.config import is_local
from mixssl_mm.utils.hashing import file_hash
from mixssl_mm.utils.paths import file_in_the_way
from .config_fit import fitted_options, own_encoder, refusals
from .data import choose_task, find_target, positive_index, read_aux
from .methods import (CONFIG_SIZE, DOWNSTREAM, FRACTION_BASE, METHOD_GROUPS,
                      METHODS, base_protocol, expand_methods, feature_channels,
                      fraction_protocol, largest_size, method_cli_name,
                      mixes_images, percent, resolution_options,
                      split_protocol)
from .presets import PRESETS, preset_key
from .recipe import (WARMUP_END_KEY, blur_options, crop_options,
                     steps_per_epoch, warmup_options, write_random_start)
from .stage_configs import StageConfigs, load_config, parse_cfg_options

KNN_K = 20  # KNNEvalHook's k, which the memory bank must hold
INDICES = 'train_dataloader.dataset.indices'
START_PREFIX = 'backbone.'


def _fmt_value(v) -> str:
    if v is None:
        return 'None'
    if isinstance(v, (list, tuple)):
        inner = ','.join(_fmt_value(x) for x in v)
        return f'[{inner}]' if isinstance(v, list) else f'({inner})'
    return v if isinstance(v, str) else repr(v)


def to_cfg_options(opts: dict) -> List[str]:
    """``{key: value}`` -> ``['key=value', ...]`` as ``--cfg-options``
    (mmengine's ``DictAction``) reads them."""
    return [f'{k}={_fmt_value(v)}' for k, v in opts.items()]


@dataclass
class Stage:
    """One subprocess of a chain: its folder ``sdir``, the argv ``cmd``
    (``<{needs} checkpoint>`` until the stage ``needs`` names has finished),
    what it records by ``kind`` (``'train'``: its last checkpoint,
    ``'test'``: ``metrics.json``, ``'knn'``: ``knn/top1``), the files a
    finished stage must have (``outputs``), ``record``: ``dict(method,
    protocol, seed)`` of a reported result; ``inputs``: the files its
    command names besides the checkpoint of ``needs`` (its config, a local
    start checkpoint; not the files the config names, such as image
    lists), written or checked before any stage runs."""
    label: str
    sdir: str
    cmd: List[str]
    kind: str
    name: str = ''
    needs: Optional[str] = None
    outputs: List[str] = field(default_factory=list)
    record: Optional[dict] = None
    inputs: List[str] = field(default_factory=list)


def command_inputs(cmd: Sequence[str]) -> List[str]:
    """The local files a stage command names but the checkpoint it
    ``needs``: its config and a start checkpoint given by path (not a URL
    such as ``torchvision://``)."""
    start = 'model.backbone.init_cfg.checkpoint='
    return [cmd[3]] + [
        c[len(start):] for c in cmd if c.startswith(start)
        and not c[len(start):].startswith('<') and is_local(c[len(start):])
    ]


def check_start(path: str, depth: int) -> str:
    """The sha256 of ``--init-ckpt``, checked to hold a ResNet-``depth``
    under ``backbone.``.

    Raises:
        SystemExit: no such file, unreadable, or another encoder's keys.
    """
    from mmpretrain.models import ResNet

    from mixssl_mm.converters.resnet import DOC, converter_command
    from mixssl_mm.preflight.checkpoints import check_pretrained_keys
    from mixssl_mm.preflight.error import ConfigError
    if not osp.isfile(path):
        raise SystemExit(
            f'--init-ckpt {path}: no such file. Convert DINO or torchvision '
            f'weights first: {converter_command("SRC.pth", "DST.pth")} '
            f'({DOC}).')
    encoder = ResNet(
        depth=depth,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix=START_PREFIX))
    try:
        check_pretrained_keys(encoder)
    except ConfigError as e:
        raise SystemExit(
            f'--init-ckpt {path} cannot start the preset\'s encoder, '
            f'ResNet-{depth}:\n{e}\nUse a preset with the checkpoint\'s '
            'encoder (DINO\'s ResNet-50: --preset gpu-paper) or a checkpoint '
            f'of a ResNet-{depth}.') from None
    return file_hash(path, 'sha256')


# ------------------------------------------------------- label fractions
def check_fractions(fractions: Sequence[float]) -> List[float]:
    """The fractions, sorted and distinct.

    Raises:
        SystemExit: a fraction outside ``(0, 1]``.
    """
    bad = [f for f in fractions if not 0.0 < f <= 1.0]
    if bad:
        raise SystemExit(f'--label-fractions must lie in (0, 1], got {bad} '
                         '(0.01 = 1 % of the training labels).')
    return sorted(set(float(f) for f in fractions))


def pool_positions(num_images: int, indices=None) -> np.ndarray:
    """Positions in a ``data_list`` of ``num_images`` that mmengine's
    ``BaseDataset(indices=...)`` keeps."""
    if indices is None:
        return np.arange(num_images)
    if isinstance(indices, int):
        return np.arange(min(indices, num_images))
    return np.asarray(list(indices), dtype=np.int64)


def stratified_subset(labels: np.ndarray,
                      fraction: float,
                      seed: int,
                      pool: Optional[np.ndarray] = None) -> np.ndarray:
    """Sorted positions of a class-stratified ``fraction`` of ``pool``
    (default: all of ``labels``) by scikit-learn's ``train_test_split``,
    at least one image per class."""
    from sklearn.model_selection import train_test_split
    pool = np.arange(len(labels)) if pool is None else np.asarray(pool)
    y = np.asarray(labels)[pool]
    classes, counts = np.unique(y, return_counts=True)
    n = max(len(classes), int(round(fraction * len(pool))))
    if n >= len(pool):
        return np.sort(pool)
    single = np.isin(y, classes[counts < 2])  # sklearn needs 2 per class
    rest, y_rest = pool[~single], y[~single]
    take = n - int(single.sum())
    n_rest_classes = len(np.unique(y_rest))
    if take >= len(rest) - n_rest_classes:  # (almost) everything
        chosen = rest
    elif take <= 0:
        chosen = rest[:0]
    else:
        chosen, _ = train_test_split(
            rest,
            train_size=max(take, n_rest_classes),
            stratify=y_rest,
            random_state=seed)
    chosen = np.concatenate([pool[single], chosen])
    rng = np.random.default_rng(seed)
    for c in classes:
        if not (np.asarray(labels)[chosen] == c).any():
            chosen = np.append(chosen, rng.choice(pool[y == c]))
    return np.sort(chosen)


@dataclass
class LabelSubset:
    """One seed's subset of one fraction: sorted ``data_list`` positions,
    images per class in it (``counts``) and in the pool."""
    fraction: float
    seed: int
    indices: List[int]
    counts: List[int]
    pool_counts: List[int]
    classes: List[str]

    @property
    def sha256(self) -> str:
        """SHA-256 of the index list as JSON (``[3, 17, ...]``)."""
        return hashlib.sha256(json.dumps(self.indices).encode()).hexdigest()

    def record_path(self, work_dir: str) -> str:
        return osp.join(work_dir, 'label_fractions',
                        f'seed{self.seed}_{percent(self.fraction)}pct.json')

    def write(self, work_dir: str) -> str:
        """Write the record (fraction, seed, counts, indices, hash)."""
        path = self.record_path(work_dir)
        os.makedirs(osp.dirname(path), exist_ok=True)
        keys = ('fraction', 'seed', 'classes', 'counts', 'pool_counts')
        with open(path, 'w') as f:
            json.dump(
                dict({k: getattr(self, k)
                      for k in keys},
                     sha256=self.sha256,
                     indices=self.indices), f)
        return path


def draw_subset(labels: np.ndarray, classes: Sequence[str], fraction: float,
                seed: int, pool: np.ndarray) -> LabelSubset:
    idx = stratified_subset(labels, fraction, seed, pool)
    k, labels = len(classes), np.asarray(labels)
    return LabelSubset(fraction, seed, [int(i) for i in idx],
                       np.bincount(labels[idx], minlength=k).tolist(),
                       np.bincount(labels[pool], minlength=k).tolist(),
                       list(classes))


def dataset_labels(dataset_cfg: dict):
    """``(labels, class names)`` of the whole ``data_list`` of the dataset
    ``dataset_cfg`` builds."""
    from mmpretrain.registry import DATASETS

    import mixssl_mm  # noqa: F401  (registers MedMNIST)
    cfg = dict(dataset_cfg, pipeline=[], lazy_init=False)
    cfg.pop('indices', None)
    cfg.pop('_delete_', None)
    dataset = DATASETS.build(cfg)
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    classes = dataset.metainfo.get('classes') or [
        f'class_{i}' for i in range(int(labels.max()) + 1)
    ]
    return labels, list(classes)


def equal_step_epochs(epochs: int, pool: int, subset: int, batch: int) -> int:
    """Epochs of a ``subset``-image fine-tune with the optimizer steps of
    ``epochs`` epochs on ``pool`` images."""
    steps = epochs * math.ceil(pool / batch)
    return max(epochs, int(round(steps / math.ceil(subset / batch))))


def expand_protocols(protocols: Sequence[str],
                     fractions: Sequence[float]) -> List[str]:
    """``protocols`` with the fine-tune replaced by one protocol per label
    fraction (``[0.01, 1.0]`` -> ``finetune_1pct``, ``finetune``)."""
    out = []
    for p in protocols:
        out += [fraction_protocol(f) for f in fractions] \
            if p == FRACTION_BASE else [p]
    return out


class FractionStages:
    """The label subsets of ``plan``: one per fraction < 1 and seed."""

    def __init__(self, plan, fractions: Sequence[float]):
        self.plan = plan
        self.fractions = check_fractions(fractions)
        self._pool = None
        self._subsets = {}

    def pool(self):
        """``(labels, classes, positions)`` of the full fine-tune's."""
        if self._pool is None:
            dataset = self.plan.finetune_cfg(
            ).train_dataloader.dataset.to_dict()
            # an image list generated but not written yet (a dry run) is
            # read through a temporary copy
            ann, files = dataset.get('ann_file'), self.plan.configs.files
            with tempfile.TemporaryDirectory() as tmp:
                if ann in files and not osp.isfile(ann):
                    dataset['ann_file'] = osp.join(tmp, osp.basename(ann))
                    with open(dataset['ann_file'], 'w') as f:
                        f.write(files[ann])
                labels, classes = dataset_labels(dataset)
            self._pool = (labels, classes,
                          pool_positions(len(labels), dataset.get('indices')))
        return self._pool

    def subset(self, protocol: str, seed: int) -> LabelSubset:
        key = (split_protocol(protocol)[1], seed)
        if key not in self._subsets:
            labels, classes, pool = self.pool()
            self._subsets[key] = draw_subset(labels, classes, *key, pool)
        return self._subsets[key]

    def subsets(self) -> List[LabelSubset]:
        """Every (fraction < 1, seed) subset of the plan."""
        return [
            self.subset(fraction_protocol(f), s) for f in self.fractions
            if f < 1.0 for s in self.plan.seeds
        ]


# ------------------------------------------------------------------ plan
class Plan:
    """The stages and their overrides for parsed benchmark ``args``
    (:func:`~.cli.parse_benchmark_args`).

    Raises:
        SystemExit: settings that cannot run (a resolution MixSSL cannot
            take, imagenet-self without a checkpoint, a missing or unfit
            method config, ``--jobs`` < 1, ...); unknown method names.
    """

    def __init__(self, args):
        self.args = args
        self.preset_name = args.preset
        self.preset = p = copy.deepcopy(PRESETS[preset_key(args.preset)])
        self.recipe = args.recipe
        names = args.methods or ([] if args.ablations else p['methods'])
        self.methods = expand_methods(names)
        # methods named one by one are refused when they cannot run; those
        # of a group are left out (with the reason)
        explicit = expand_methods(
            [n for n in names if n.replace('-', '_') not in METHOD_GROUPS])
        self.left_out = OrderedDict()
        if args.ablations:
            self.methods += [
                m for m in METHOD_GROUPS['ablations'] if m not in self.methods
            ]
        self.fraction_stages = FractionStages(
            self, args.label_fractions or p.get('label_fractions') or [1.0])
        self.protocols = expand_protocols(args.protocols,
                                          self.fraction_stages.fractions)
        self.jobs = p['jobs'] if args.jobs is None else args.jobs
        self.threads = p['threads'] if args.threads is None else args.threads
        if self.threads is None and self.jobs > 1:
            self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.seeds = args.seeds if args.seeds is not None else p['seeds']
        self.work_dir = osp.abspath(
            args.work_dir or osp.join('work_dirs', 'benchmark', args.preset))
        self.channels = feature_channels(p['depth'])
        self.encoders = {}  # method -> its config's own encoder
        self._check_methods(explicit)
        self.target = t = find_target(args.data_root, args.ann_file)
        self.task = choose_task(t, args.classes, args.classes_subset,
                                args.num_classes)
        self.positive = positive_index(self.task, args.positive_class)
        # MedMNIST's classes_subset (original label ids) when the task is
        # not the whole file; folders list the task's images themselves
        whole = self.task.ids == list(range(len(t.classes)))
        self.subset = (
            list(self.task.ids) if t.kind == 'npz' and
            (self.task.paper == '4' or not whole) else None)
        self.num_classes = self.task.num_classes
        self.downstream = DOWNSTREAM['4' if self.task.paper == '4' else '8']
        aux_root = args.aux_root or (benchmark_pool() if any(
            mixes_images(m) for m in self.methods) else None)
        self.aux = read_aux(aux_root) if aux_root else None
        init, imagenet = args.init_ckpt, args.imagenet_ckpt
        self.init_ckpt = None if init is None else osp.abspath(init)
        if init is not None and imagenet and osp.abspath(
                imagenet) != self.init_ckpt:
            raise SystemExit(
                f'--init-ckpt {init} and --imagenet-ckpt {imagenet} '
                'differ; ImageNet-self fine-tunes the start every method '
                'pretrains from. Give --init-ckpt alone.')
        self.init_sha256 = None
        self._check()
        self.configs = StageConfigs(self)
        self._finetune_cfg = None

    def _check_methods(self, explicit: Sequence[str]):
        # a config that cannot be fitted (config_fit.refusals) is refused
        # when named, left out (with the reason) when a group named it
        # --pretrain-cfg-options, which every pretraining stage ends with
        p, extra = self.preset, parse_cfg_options(
            self.args.pretrain_cfg_options)
        for m in [m for m in self.methods if METHODS[m]['config']]:
            cfg = METHODS[m]['config']
            if not osp.isfile(cfg):
                raise SystemExit(f'method {method_cli_name(m)}: config {cfg} '
                                 'is missing from this checkout (run from the '
                                 'repository root).')
            config = load_config(cfg)
            if extra:
                config = copy.deepcopy(config)
            for key, value in extra.items():
                try:
                    config.merge_from_dict({key: value}, allow_list_keys=True)
                except Exception:  # noqa: B902  e.g. an index into the
                    pass  # wrapper's longer pipeline: checked without it
            # the stage's options end with them: they win over the preset's
            found = refusals(
                config, p['img_size'],
                extra.get('train_dataloader.batch_size', p['batch_size']),
                None if 'model.queue_len' in extra else p.get('queue_len'))
            if not found:
                enc = own_encoder(config, p['img_size'])
                if enc is not None:
                    self.encoders[m] = enc
                continue
            why = '; '.join(f'{k} {what}' for k, what in found)
            # a type or the preset's size is no key an option can fix
            settable = any(
                k not in ('model.type', 'model.backbone.type', 'img_size')
                for k, _ in found)
            if m in explicit:
                raise SystemExit(
                    f'method {method_cli_name(m)} ({cfg}) cannot run in '
                    f'preset {self.preset_name}: {why}.' +
                    (' (Or set the key with --pretrain-cfg-options / in a '
                     'copy of the config.)' if settable else ''))
            self.methods.remove(m)
            self.left_out[m] = why
            print(f'note: group method {method_cli_name(m)} left out of '
                  f'preset {self.preset_name}: {why}.')

    def _check(self):
        p, a = self.preset, self.args
        if p['img_size'] and p['img_size'] % 32 and any(
                mixes_images(m) for m in self.methods):
            raise SystemExit(
                f"preset {self.preset_name}: img_size={p['img_size']} is not "
                'a multiple of 32, which MixSSL needs (ResNet stride 32).')
        if 'imagenet_self' in self.methods:
            if not (a.imagenet_ckpt or self.init_ckpt):
                raise SystemExit(
                    'method imagenet-self fine-tunes from ImageNet weights: '
                    'pass --init-ckpt PATH (every method\'s start) or '
                    '--imagenet-ckpt PATH, a checkpoint converted with '
                    'tools/model_converters/ (see docs/model_converters.md).')
            if not osp.isfile(self.imagenet_ckpt):
                # the path may come from either flag: name the one given
                flag = '--init-ckpt' if self.init_ckpt else '--imagenet-ckpt'
                raise SystemExit(
                    f'{flag} {self.imagenet_ckpt}: no such file. '
                    'Convert torchvision or DINO ResNet weights with '
                    'tools/model_converters/ first.')
        if self.init_ckpt:
            if self.encoders:
                raise SystemExit(
                    f'--init-ckpt is a ResNet-{p["depth"]} start, but '
                    f'{[method_cli_name(m) for m in self.encoders]} keep '
                    "their config's own encoder; leave --init-ckpt out or "
                    'run those methods apart.')
            self.init_sha256 = check_start(self.init_ckpt, p['depth'])
        bank = self.train_images
        if 'knn' in self.protocols and bank < KNN_K:
            raise SystemExit(
                f'k-NN classifies by the {KNN_K} nearest train images, but '
                f'the task has {bank} train images to search; add images or '
                'leave k-NN out: --protocols finetune linear.')
        if 'mixssl_ra' in self.methods and self.aux is not None and \
                self.aux.classes is None:
            raise SystemExit(
                f'R+A predicts the auxiliary image\'s class, but --aux-root '
                f'{self.aux.root} has its images at its top level, without '
                'class sub-folders; give a folder of class folders (e.g. '
                "Imagenette's train/) or leave mixssl-ra out.")
        if self.jobs < 1:
            raise SystemExit(f'--jobs must be >= 1, got {self.jobs}.')
        if self.threads is not None and self.threads < 1:
            raise SystemExit(f'--threads must be >= 1, got {self.threads}.')
        in_the_way = file_in_the_way(self.work_dir)
        if in_the_way is not None:
            raise SystemExit(f'--work-dir {self.work_dir}: {in_the_way} is a '
                             'file, not a folder; give another --work-dir.')
        bad = [s for s in self.seeds if not 0 <= s < 2**32]
        if bad or len(set(self.seeds)) != len(self.seeds):
            raise SystemExit(
                f'--seeds {" ".join(map(str, self.seeds))}: give distinct '
                f'whole numbers from 0 to {2**32 - 1} (each seed is one run '
                'of every method and names its folder).')

    @property
    def train_images(self) -> int:
        """Train images of the task the stages train on."""
        n = sum(self.target.counts['train'][i] for i in self.task.ids)
        return min(n, self.preset['train_subset'] or n)

    @property
    def imagenet_ckpt(self) -> Optional[str]:
        """ImageNet-self's start: ``--init-ckpt``, else
        ``--imagenet-ckpt``."""
        ckpt = self.init_ckpt or self.args.imagenet_ckpt
        return osp.abspath(ckpt) if ckpt else None

    # -- the stages ------------------------------------------------------
    def chains(self) -> List[Tuple[str, int]]:
        """The independent (method, seed) chains, seed-major."""
        return [(m, s) for s in self.seeds for m in self.methods]

    def size(self) -> int:
        """Number of stages of all chains."""
        per_chain = sum(1 if p == 'knn' else 2 for p in self.protocols)
        return sum(
            len(self.seeds) * (bool(METHODS[m]['config']) + per_chain)
            for m in self.methods)

    def stages(self, method: str, seed: int) -> List[Stage]:
        """The chain of ``method`` and ``seed``, in run order."""
        d = partial(self.stage_dir, method, seed)
        out, needs = [], None
        ckpt = self.imagenet_ckpt if METHODS[method].get('external') else None
        extra = self.args.downstream_cfg_options

        def add(stage, cmd, *args, **kwargs):
            label = f'{method} seed {seed} {stage.replace("_test", " test")}'
            out.append(
                Stage(
                    label,
                    d(stage),
                    cmd,
                    *args,
                    inputs=command_inputs(cmd),
                    **kwargs))

        if METHODS[method]['config']:
            add(
                'pretrain',
                self.train_command(
                    self.pretrain_config(method), d('pretrain'),
                    self.pretrain_options(method, seed),
                    self.args.pretrain_cfg_options), 'train', 'pretrain')
            needs, ckpt = 'pretrain', '<pretrain checkpoint>'
        for proto in self.protocols:
            record = dict(method=method, protocol=proto, seed=seed)
            if proto == 'knn':
                add('knn',
                    self.train_command(
                        self.knn_config(method), d('knn'),
                        self.knn_options(seed, ckpt, method), extra),
                    'knn',
                    needs=needs,
                    record=record)
                continue
            add(
                proto,
                self.train_command(
                    self.train_config(proto, seed, method), d(proto),
                    self.downstream_train_options(proto, seed, ckpt, method),
                    self.train_extra(proto)), 'train', proto, needs)
            sdir = d(f'{proto}_test')
            preds = osp.join(sdir, 'predictions.pkl')
            opts = self.test_options(proto, seed, method)
            # the per-image predictions (DumpPredictionsHook)
            opts['default_hooks.dump_predictions.type'] = 'DumpPredictionsHook'
            opts['default_hooks.dump_predictions.out_file'] = preds
            add(f'{proto}_test',
                self.test_command(
                    self.protocol_config(proto, method),
                    f'<{proto} checkpoint>', sdir,
                    osp.join(sdir, 'metrics.json'), opts, extra),
                'test',
                needs=proto,
                outputs=[preds],
                record=record)
        return out

    # -- configs (:mod:`.stage_configs`) -----------------------------------
    def pretrain_config(self, method: str) -> str:
        cfg = METHODS[method]['config']
        return self.configs.wrapper(
            f'{method}_pretrain', cfg,
            lambda: self.configs.pretrain_overrides(cfg))

    def protocol_config(self,
                        protocol: str,
                        method: Optional[str] = None) -> str:
        """The config of a fine-tune / linear-probe stage and its test."""
        p = base_protocol(protocol)
        return self.configs.wrapper(
            p, self.downstream[p],
            lambda: self.configs.downstream_overrides(p, method), method)

    def train_config(self,
                     protocol: str,
                     seed: int,
                     method: Optional[str] = None) -> str:
        """A downstream training stage's config; a label fraction's trains
        on its subset for ``seed``."""
        if base_protocol(protocol) == protocol:
            return self.protocol_config(protocol, method)
        indices = self.fraction_stages.subset(protocol, seed).indices
        return self.configs.wrapper(
            f'{protocol}_seed{seed}', self.downstream['finetune'],
            lambda: self.configs.subset_overrides(indices, method), method)

    def knn_config(self, method: Optional[str] = None) -> str:
        return self.configs.wrapper('knn', self.downstream['finetune'],
                                    lambda: self.configs.knn_overrides(method),
                                    method)

    def finetune_cfg(self):
        """The full fine-tune's config with its options (seed 0): the label
        fractions' pool, k-NN's bank."""
        if self._finetune_cfg is None:
            cfg = copy.deepcopy(
                self.configs.config(self.protocol_config(FRACTION_BASE)))
            for o in (self.downstream_train_options(FRACTION_BASE, 0, None),
                      parse_cfg_options(self.args.downstream_cfg_options)):
                cfg.merge_from_dict(o, allow_list_keys=True)
            self._finetune_cfg = cfg
        return self._finetune_cfg

    def train_extra(self, protocol: str) -> List[str]:
        """``--downstream-cfg-options`` of a training stage (a fraction
        stage's without ``indices``: they set the pool)."""
        extra = list(self.args.downstream_cfg_options)
        if base_protocol(protocol) != protocol:
            return [o for o in extra if not o.startswith(INDICES + '=')]
        return extra

    def write_files(self) -> List[str]:
        """Write the generated files the stages read; the paths written."""
        for chain in self.chains():
            self.stages(*chain)  # names (adds) every generated config
        subsets = [
            s.write(self.work_dir) for s in self.fraction_stages.subsets()
        ]
        starts = []
        if any(self.starts_random(m) for m in self.methods):
            for seed in self.seeds:
                path = write_random_start(
                    self.random_start(seed), self.preset['depth'], seed)
                starts += [path] if path else []
        return self.configs.write() + subsets + starts

    @staticmethod
    def starts_random(method: str) -> bool:
        """Whether ``method`` fine-tunes a random encoder (Rand)."""
        m = METHODS[method]
        return not m['config'] and not m.get('external')

    def random_start(self, seed: int) -> str:
        return osp.join(self.work_dir, 'rand_start', f'seed{seed}', 'encoder',
                        'backbone.pth')

    def stage_dir(self, method: str, seed: int, stage: str) -> str:
        return osp.join(self.work_dir, method, f'seed{seed}', stage)

    @staticmethod
    def train_command(config: str, sdir: str, opts: dict,
                      extra: Sequence[str]) -> List[str]:
        """``--resume`` when ``sdir`` holds a checkpoint."""
        cmd = [
            sys.executable, '-m', 'mixssl_mm.apis.train', config, '--work-dir',
            sdir
        ]
        if osp.isfile(osp.join(sdir, 'last_checkpoint')):
            cmd.append('--resume')
        return cmd + ['--cfg-options'] + to_cfg_options(opts) + list(extra)

    @staticmethod
    def test_command(config: str, ckpt: str, sdir: str, out: str, opts: dict,
                     extra: Sequence[str]) -> List[str]:
        """The test subprocess, writing its metrics to ``out`` (JSON)."""
        return [
            sys.executable, '-m', 'mixssl_mm.apis.test', config, ckpt,
            '--work-dir', sdir, '--out', out, '--out-item', 'metrics',
            '--cfg-options'
        ] + to_cfg_options(opts) + list(extra)

    # -- cfg-options -----------------------------------------------------
    def encoder_channels(self, method: Optional[str]) -> int:
        enc = self.encoders.get(method)
        return enc['channels'] if enc else self.channels

    def _loader_options(self, o: dict, loader: str) -> None:
        w = self.preset['num_workers']
        o[f'{loader}.num_workers'] = w
        o[f'{loader}.persistent_workers'] = w > 0
        o[f'{loader}.pin_memory'] = w != 0

    def _data_options(self, loader: str) -> dict:
        a, o = self.args, OrderedDict()
        if self.target.kind == 'npz':  # a folder: in the wrapper's datasets
            if a.data_root is not None:
                o[f'{loader}.dataset.data_root'] = a.data_root
            if a.ann_file is not None:
                o[f'{loader}.dataset.ann_file'] = a.ann_file
        return o

    def _common_train_options(self, cfg, epochs: int, seed: int,
                              method: Optional[str]) -> dict:
        p, o = self.preset, OrderedDict()
        o['randomness.seed'] = seed
        if method not in self.encoders:  # else the config's own encoder
            o['model.backbone.depth'] = p['depth']
        o['train_cfg.max_epochs'] = epochs
        o['train_dataloader.batch_size'] = p['batch_size']
        o['default_hooks.checkpoint.max_keep_ckpts'] = 1
        o['default_hooks.logger.interval'] = 10
        self._loader_options(o, 'train_dataloader')
        if p['train_subset']:
            o[INDICES] = p['train_subset']
        if p['img_size']:
            full = largest_size(cfg, ['train_dataloader']) or CONFIG_SIZE
            o.update(resolution_options(cfg, p['img_size'], full=full))
            o.update(blur_options(cfg, p['img_size'], full=full))
        # crops that keep enough source pixels (none on clean views)
        o.update(crop_options(cfg, p['crop_scale_min']))
        return o

    def pretrain_options(self, method: str, seed: int) -> dict:
        """cfg-options of ``method``'s pretraining stage."""
        p, m = self.preset, METHODS[method]
        cfg = self.configs.config(self.pretrain_config(method))
        o = self._common_train_options(cfg, p['pretrain_epochs'], seed, method)
        o.update(m['channels'](self.encoder_channels(method)))
        if method in self.encoders:  # its readers and resolution
            o.update(self.encoders[method]['options'])
        # the paper recipe keeps the configs' lr (the paper's 1e-4)
        lr = cfg.optim_wrapper.optimizer.get('lr')
        if p['pretrain_lr'] is not None and self.recipe != 'paper':
            o['optim_wrapper.optimizer.lr'] = lr = p['pretrain_lr']
        steps = steps_per_epoch(self.train_images, p['batch_size'],
                                cfg.train_dataloader.get('drop_last', False))
        o.update(warmup_options(self.recipe, p['pretrain_epochs'], steps))
        if self.subset is not None:
            o['train_dataloader.dataset.classes_subset'] = self.subset
        o.update(self._data_options('train_dataloader'))
        if self.init_ckpt:  # the paper's start, the same for every method
            o['model.backbone.init_cfg.type'] = 'Pretrained'
            o['model.backbone.init_cfg.checkpoint'] = self.init_ckpt
            o['model.backbone.init_cfg.prefix'] = START_PREFIX
        if m.get('objective') == 'R+A' and self.aux is not None:
            o['model.aux_head.num_classes'] = len(self.aux.classes)
        o.update(
            fitted_options(cfg, p['img_size'], p['batch_size'], steps,
                           lr if self.recipe != 'paper' else None,
                           p.get('queue_len')))
        o.update(p['method_options'].get(method, {}))
        return o

    def _downstream_model_options(self, cfg, loader: str,
                                  method: Optional[str]) -> dict:
        o, channels = OrderedDict(), self.encoder_channels(method)
        o['model.head.in_channels'] = channels
        necks = cfg.model.get('neck')
        if isinstance(necks, (list, tuple)):  # e.g. GAP + ClsBatchNormNeck
            for i, n in enumerate(necks):
                if 'input_features' in n:
                    o[f'model.neck.{i}.input_features'] = channels
        if self.task.paper is None:  # not a shipped BloodMNIST task config
            o['model.head.num_classes'] = self.num_classes
            o['data_preprocessor.num_classes'] = self.num_classes
            if self.target.kind == 'npz':
                o[f'{loader}.dataset.classes_subset'] = self.subset
        return o

    def downstream_train_options(self,
                                 protocol: str,
                                 seed: int,
                                 ckpt: Optional[str],
                                 method: Optional[str] = None) -> dict:
        """cfg-options of ``method``'s fine-tune / linear-probe training
        stage that starts from the encoder in ``ckpt`` (None: Rand's)."""
        p, base = self.preset, base_protocol(protocol)
        cfg = self.configs.config(self.protocol_config(protocol, method))
        epochs = full = p[f'{base}_epochs']
        images = self.train_images
        if base != protocol:  # a label fraction: the full one's steps
            images = len(self.fraction_stages.subset(protocol, seed).indices)
            epochs = equal_step_epochs(full,
                                       len(self.fraction_stages.pool()[2]),
                                       images, p['batch_size'])
        o = self._common_train_options(cfg, epochs, seed, method)
        for k in [k for k in o if k.startswith('val_dataloader.')]:
            del o[k]  # validation is off
        o.update(
            self._downstream_model_options(cfg, 'train_dataloader', method))
        # the final checkpoint is tested; no model selection on val
        o.update(
            dict.fromkeys([
                'val_dataloader', 'val_cfg', 'val_evaluator',
                'default_hooks.checkpoint.save_best'
            ]))
        # Rand: the random encoder a pretraining stage starts from
        o['model.backbone.init_cfg.checkpoint'] = ckpt or \
            self.random_start(seed)
        o.update(self._data_options('train_dataloader'))
        o.update(
            warmup_options(self.recipe, epochs,
                           steps_per_epoch(images, p['batch_size'], False)))
        if base != protocol:
            o.pop(INDICES, None)  # the config lists the subset
            o['default_hooks.checkpoint.interval'] = max(1, epochs // full)
        return o

    def test_options(self,
                     protocol: str,
                     seed: int,
                     method: Optional[str] = None) -> dict:
        """cfg-options of ``method``'s test stage."""
        p, o = self.preset, OrderedDict()
        cfg = self.configs.config(self.protocol_config(protocol, method))
        o['randomness.seed'] = seed
        if method not in self.encoders:
            o['model.backbone.depth'] = p['depth']
        o['model.backbone.init_cfg'] = None  # weights come from the ckpt
        o.update(
            self._downstream_model_options(cfg, 'test_dataloader', method))
        self._loader_options(o, 'test_dataloader')
        if p['img_size']:
            o.update(
                resolution_options(cfg, p['img_size'], ['test_dataloader']))
        o.update(self._data_options('test_dataloader'))
        return o

    def knn_options(self,
                    seed: int,
                    ckpt: Optional[str],
                    method: Optional[str] = None) -> dict:
        """The fine-tune's cfg-options, 0 epochs: ``KNNEvalHook`` evaluates
        the initial weights, ``ckpt``."""
        o = self.downstream_train_options('finetune', seed, ckpt, method)
        o['train_cfg.max_epochs'] = 0
        o.pop(WARMUP_END_KEY, None)  # it trains nothing
        return o
