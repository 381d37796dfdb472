# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's plan: which stages run (per method and seed)::

    pretrain -> fine-tune -> test        (Rand: no pretraining)
             -> fine-tune on a label fraction -> test    (--label-fractions)
             -> linear probe -> test
             -> k-NN                     (a 0-epoch run with KNNEvalHook)

where each runs (``stage_dir``), and the ``--cfg-options`` each stage gets
from the preset and the command-line arguments. Every stage is a normal mm
run: ``python -m mixssl_mm.apis.train`` / ``mixssl_mm.apis.test`` on a
shipped config (paths relative to the current working directory, the
repository root) or on a generated wrapper of one (:mod:`.stage_configs`).
The target data, the task's classes (:mod:`.data`) and the shared start
checkpoint (:mod:`.start_checkpoint`) are read and checked when the plan is
made, before any stage.
"""
import copy
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

from mixssl_mm.datasets.utils.natural_photos import benchmark_pool
from .config_fit import fitted_options, own_encoder, refusals
from .data import choose_task, find_target, positive_index, read_aux
from .fraction_stages import FractionStages, expand_protocols
from .methods import (CONFIG_SIZE, DOWNSTREAM, METHOD_GROUPS, METHODS,
                      expand_methods, feature_channels, largest_size,
                      method_cli_name, mixes_images, resolution_options)
from .presets import PRESETS, preset_key
from .protocols import base_protocol
from .recipe import (DEFAULT_RECIPE, WARMUP_END_KEY, ZERO_INIT_RESIDUAL,
                     blur_options, crop_options, steps_per_epoch,
                     warmup_options, write_random_start)
from .stage_configs import StageConfigs
from .start_checkpoint import check_start, resolve_start, start_options
from .wrappers import load_config

TRAIN_MODULE = 'mixssl_mm.apis.train'
KNN_K = 20  # KNNEvalHook's k, which the memory bank must hold
TEST_MODULE = 'mixssl_mm.apis.test'


def _fmt_value(v) -> str:
    if v is None:
        return 'None'
    if isinstance(v, (list, tuple)):
        inner = ','.join(_fmt_value(x) for x in v)
        return f'[{inner}]' if isinstance(v, list) else f'({inner})'
    if isinstance(v, str):
        return v
    return repr(v)


def to_cfg_options(opts: dict) -> List[str]:
    """``{key: value}`` -> ``['key=value', ...]`` that mmengine's
    ``DictAction`` parses back to the same values (lists, tuples, None,
    floats and bools included)."""
    return [f'{k}={_fmt_value(v)}' for k, v in opts.items()]


class Plan:
    """The stages and their overrides for parsed benchmark ``args`` (see
    :func:`mixssl_mm.benchmark.cli.parse_benchmark_args`).

    Raises:
        SystemExit: settings that cannot run (a resolution MixSSL cannot
            take, imagenet-self without a checkpoint file, a missing method
            config, ``--jobs`` < 1, a MoCo queue that is no whole number of
            batches); unknown method names.
    """

    def __init__(self, args):
        self.args = args
        self.preset_name = args.preset
        self.preset = p = copy.deepcopy(PRESETS[preset_key(args.preset)])
        self.recipe = getattr(args, 'recipe', None) or DEFAULT_RECIPE
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
        # the fine-tune on each label fraction (default: the full one)
        self.fraction_stages = FractionStages(
            self, args.label_fractions or p.get('label_fractions') or [1.0])
        self.protocols = expand_protocols(args.protocols,
                                          self.fraction_stages.fractions)
        self.jobs = p['jobs'] if args.jobs is None else args.jobs
        self.threads = args.threads or p['threads']
        if self.threads is None and self.jobs > 1:
            self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.seeds = args.seeds if args.seeds is not None else p['seeds']
        self.work_dir = osp.abspath(
            args.work_dir or osp.join('work_dirs', 'benchmark', args.preset))
        self.channels = feature_channels(p['depth'])
        # method -> its config's own (non-ResNet) encoder (config_fit)
        self.encoders = {}
        self._check_methods(explicit)
        # the data, the task and the start, read before any stage
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
        # MixSSL's auxiliary images: --aux-root, else the fetched natural
        # photo pool, else (with a warning) NaturalPhotoPool's 16 photos
        aux_root = args.aux_root or (benchmark_pool() if any(
            mixes_images(m) for m in self.methods) else None)
        self.aux = read_aux(aux_root) if aux_root else None
        self.init_ckpt = resolve_start(args.init_ckpt, args.imagenet_ckpt)
        self.init_sha256 = None
        self._check()
        self.configs = StageConfigs(
            self.work_dir,
            t,
            self.task,
            self.downstream,
            self.positive,
            self.aux,
            args.recalibrate_bn,
            p['num_workers'],
            self.recipe,
            eval_options=lambda:
            (self.knn_options(0, None), args.downstream_cfg_options))

    def _check_methods(self, explicit: Sequence[str]):
        """Refuse a method whose config is missing or cannot be fitted
        (:func:`~.config_fit.refusals`); one that only a group named is
        left out instead, with its reason in :attr:`left_out`."""
        p = self.preset
        for m in list(self.methods):
            cfg = METHODS[m]['config']
            if not cfg:
                continue
            if not osp.isfile(cfg):
                raise SystemExit(f'method {method_cli_name(m)}: config {cfg} '
                                 'is missing from this checkout (run from the '
                                 'repository root).')
            found = refusals(
                load_config(cfg), p['img_size'], p['batch_size'],
                p.get('queue_len'))
            if not found:
                enc = own_encoder(load_config(cfg), p['img_size'])
                if enc is not None:
                    self.encoders[m] = enc
                continue
            why = '; '.join(f'{k} {what}' for k, what in found)
            if m in explicit:
                raise SystemExit(
                    f'method {method_cli_name(m)} ({cfg}) cannot run in '
                    f'preset {self.preset_name}: {why}. (Or set the key with '
                    '--pretrain-cfg-options / in a copy of the config.)')
            self.methods.remove(m)
            self.left_out[m] = why
            print(f'note: group method {method_cli_name(m)} left out of '
                  f'preset {self.preset_name}: {why}.')

    def _check(self):
        p, a = self.preset, self.args
        mixssl_like = [m for m in self.methods if mixes_images(m)]
        if mixssl_like and p['img_size'] and p['img_size'] % 32:
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
                raise SystemExit(
                    f'--imagenet-ckpt {a.imagenet_ckpt}: no such file. '
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

    @property
    def train_images(self) -> int:
        """Images of the train split the stages train on (the task's
        classes, cut to the preset's ``train_subset``)."""
        n = sum(self.target.counts['train'][i] for i in self.task.ids)
        return min(n, self.preset['train_subset'] or n)

    @property
    def imagenet_ckpt(self) -> Optional[str]:
        """ImageNet-self's checkpoint: the shared start, else
        ``--imagenet-ckpt`` (absolute)."""
        ckpt = self.init_ckpt or self.args.imagenet_ckpt
        return osp.abspath(ckpt) if ckpt else None

    # -- the stages ------------------------------------------------------
    def chains(self) -> List[Tuple[str, int]]:
        """The independent (method, seed) chains, seed-major."""
        return [(m, s) for s in self.seeds for m in self.methods]

    def size(self) -> int:
        """Number of stages: per chain, a pretraining (methods with a
        config), a train + test per trained protocol and one k-NN stage."""
        per_chain = sum(1 if p == 'knn' else 2 for p in self.protocols)
        return sum(
            len(self.seeds) * ((1 if METHODS[m]['config'] else 0) + per_chain)
            for m in self.methods)

    # -- configs ---------------------------------------------------------
    def pretrain_config(self, method: str) -> str:
        """The config ``method``'s pretraining stage runs."""
        return self.configs.pretrain(method, METHODS[method]['config'])

    def downstream_encoder(self, method: Optional[str]) -> Optional[tuple]:
        """``(method, backbone)`` of the downstream stages of a method with
        its config's own encoder (:attr:`encoders`), None for the preset's
        ResNet."""
        enc = self.encoders.get(method)
        return (method, enc['backbone']) if enc else None

    def encoder_channels(self, method: Optional[str]) -> int:
        """Output channels of ``method``'s encoder."""
        enc = self.encoders.get(method)
        return enc['channels'] if enc else self.channels

    def protocol_config(self,
                        protocol: str,
                        method: Optional[str] = None) -> str:
        """The config of a fine-tune / linear-probe stage and its test (a
        label-fraction protocol: the fine-tune's test) of ``method``."""
        return self.configs.protocol(
            base_protocol(protocol), self.downstream_encoder(method))

    def train_config(self,
                     protocol: str,
                     seed: int,
                     method: Optional[str] = None) -> str:
        """The config of a downstream training stage: a label-fraction
        protocol's trains on its subset for ``seed``."""
        if base_protocol(protocol) != protocol:
            return self.fraction_stages.config(protocol, seed,
                                               self.downstream_encoder(method))
        return self.protocol_config(protocol, method)

    def train_extra(self, protocol: str) -> List[str]:
        """The user's ``--downstream-cfg-options`` of a training stage."""
        extra = list(self.args.downstream_cfg_options)
        if base_protocol(protocol) != protocol:
            return self.fraction_stages.extra(extra)
        return extra

    def knn_config(self, method: Optional[str] = None) -> str:
        """The k-NN stage's config (the same for every method with the
        preset's ResNet, and seed)."""
        return self.configs.knn(self.downstream_encoder(method))

    def write_files(self) -> List[str]:
        """Write the generated image lists and wrapper configs the stages
        read; the paths written."""
        if 'knn' in self.protocols:
            self.knn_config()
        for m in self.methods:
            if METHODS[m]['config']:
                self.pretrain_config(m)
        for proto in self.protocols:
            if proto != 'knn':
                for seed in self.seeds:
                    self.train_config(proto, seed)
        for m in self.encoders:  # methods with their config's own encoder
            if 'knn' in self.protocols:
                self.knn_config(m)
            for proto in self.protocols:
                if proto != 'knn':
                    for seed in self.seeds:
                        self.train_config(proto, seed, m)
        subsets = [
            s.write(self.work_dir) for s in self.fraction_stages.subsets()
        ]
        starts = []
        if any(self.starts_random(m) for m in self.methods):
            for seed in self.seeds:
                path = write_random_start(
                    self.random_start(seed), self.preset['depth'], seed,
                    ZERO_INIT_RESIDUAL)
                starts += [path] if path else []
        return self.configs.files.write() + subsets + starts

    @staticmethod
    def starts_random(method: str) -> bool:
        """Whether ``method`` fine-tunes a randomly initialised encoder
        (Rand)."""
        m = METHODS[method]
        return not m['config'] and not m.get('external')

    def random_start(self, seed: int) -> str:
        """Rand's encoder for ``seed``: a pretraining stage's start
        (:func:`~.recipe.write_random_start`),
        ``<work_dir>/rand_start/seed<S>/encoder/backbone.pth``."""
        return osp.join(self.work_dir, 'rand_start', f'seed{seed}', 'encoder',
                        'backbone.pth')

    def stage_dir(self, method: str, seed: int, stage: str) -> str:
        """``<work_dir>/<method>/seed<seed>/<stage>``."""
        return osp.join(self.work_dir, method, f'seed{seed}', stage)

    @staticmethod
    def train_command(config: str, sdir: str, opts: dict,
                      extra: Sequence[str]) -> List[str]:
        """The training subprocess; ``--resume`` when ``sdir`` holds a
        checkpoint (an interrupted run goes on from there)."""
        cmd = [sys.executable, '-m', TRAIN_MODULE, config, '--work-dir', sdir]
        if osp.isfile(osp.join(sdir, 'last_checkpoint')):
            cmd.append('--resume')
        return cmd + ['--cfg-options'] + to_cfg_options(opts) + list(extra)

    @staticmethod
    def prediction_options(path: str) -> dict:
        """cfg-options that make a test run write its per-image
        predictions to ``path`` (a ``.pkl``; :class:`DumpPredictionsHook`)."""
        return OrderedDict([('default_hooks.dump_predictions.type',
                             'DumpPredictionsHook'),
                            ('default_hooks.dump_predictions.out_file', path)])

    @staticmethod
    def test_command(config: str, ckpt: str, sdir: str, out: str, opts: dict,
                     extra: Sequence[str]) -> List[str]:
        """The test subprocess, writing its metrics to ``out`` (JSON)."""
        return [
            sys.executable, '-m', TEST_MODULE, config, ckpt, '--work-dir',
            sdir, '--out', out, '--out-item', 'metrics', '--cfg-options'
        ] + to_cfg_options(opts) + list(extra)

    # -- cfg-options -----------------------------------------------------
    def _data_options(self, loaders: Sequence[str]) -> dict:
        a, o = self.args, OrderedDict()
        if self.target.kind == 'folder':  # in the wrapper's datasets
            return o
        for ld in loaders:
            if a.data_root is not None:
                o[f'{ld}.dataset.data_root'] = a.data_root
            if a.ann_file is not None:
                o[f'{ld}.dataset.ann_file'] = a.ann_file
        return o

    def _loader_options(self, o: dict, loaders: Sequence[str]) -> None:
        w = self.preset['num_workers']
        for ld in loaders:
            o[f'{ld}.num_workers'] = w
            o[f'{ld}.persistent_workers'] = w > 0
            o[f'{ld}.pin_memory'] = w != 0

    def _common_train_options(self,
                              cfg,
                              epochs: int,
                              seed: int,
                              resnet: bool = True) -> dict:
        p, o = self.preset, OrderedDict()
        o['randomness.seed'] = seed
        if resnet:  # else the config's own encoder (config_fit)
            o['model.backbone.depth'] = p['depth']
        o['train_cfg.max_epochs'] = epochs
        o['train_dataloader.batch_size'] = p['batch_size']
        o['default_hooks.checkpoint.max_keep_ckpts'] = 1
        o['default_hooks.logger.interval'] = 10
        self._loader_options(o, ['train_dataloader'])
        if p['train_subset']:
            o['train_dataloader.dataset.indices'] = p['train_subset']
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
        enc = self.encoders.get(method)
        o = self._common_train_options(
            cfg, p['pretrain_epochs'], seed, resnet=enc is None)
        o.update(m['channels'](self.encoder_channels(method)))
        if enc is not None:  # its readers and resolution, from the probe
            o.update(enc['options'])
        # the paper recipe keeps the configs' lr (the paper's 1e-4)
        lr = cfg.optim_wrapper.optimizer.get('lr')
        if p['pretrain_lr'] is not None and self.recipe != 'paper':
            o['optim_wrapper.optimizer.lr'] = lr = p['pretrain_lr']
        steps = steps_per_epoch(self.train_images, p['batch_size'],
                                cfg.train_dataloader.get('drop_last', False))
        o.update(warmup_options(self.recipe, p['pretrain_epochs'], steps))
        if self.subset is not None:
            o['train_dataloader.dataset.classes_subset'] = self.subset
        o.update(self._data_options(['train_dataloader']))
        if self.init_ckpt:  # the paper's start, the same for every method
            o.update(start_options(self.init_ckpt))
        if m.get('objective') == 'R+A' and self.aux is not None:
            o['model.aux_head.num_classes'] = len(self.aux.classes)
        o.update(
            fitted_options(cfg, p['img_size'], p['batch_size'], steps,
                           lr if self.recipe != 'paper' else None,
                           p.get('queue_len')))
        o.update(p['method_options'].get(method, {}))
        return o

    def _downstream_model_options(self,
                                  cfg,
                                  loader: str,
                                  channels: Optional[int] = None) -> dict:
        o = OrderedDict()
        channels = channels or self.channels
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
        stage that starts from the encoder in ``ckpt`` (None: random init,
        Rand)."""
        p, base = self.preset, base_protocol(protocol)
        cfg = self.configs.config(self.protocol_config(protocol, method))
        epochs = p['finetune_epochs' if base ==
                   'finetune' else 'linear_epochs']
        resnet = method not in self.encoders
        o = self._common_train_options(cfg, epochs, seed, resnet=resnet)
        for k in [k for k in o if k.startswith('val_dataloader.')]:
            del o[k]  # validation is off
        o.update(
            self._downstream_model_options(cfg, 'train_dataloader',
                                           self.encoder_channels(method)))
        # the final checkpoint is tested; no model selection on val
        o['val_dataloader'] = None
        o['val_cfg'] = None
        o['val_evaluator'] = None
        o['default_hooks.checkpoint.save_best'] = None
        # Rand: the random encoder a pretraining stage starts from
        o['model.backbone.init_cfg.checkpoint'] = ckpt or \
            self.random_start(seed)
        o.update(self._data_options(['train_dataloader']))
        o.update(
            warmup_options(
                self.recipe, epochs,
                steps_per_epoch(self.train_images, p['batch_size'], False)))
        if base != protocol:  # a label fraction
            self.fraction_stages.adjust_options(o, protocol, seed, epochs)
        return o

    def test_options(self,
                     protocol: str,
                     seed: int,
                     method: Optional[str] = None) -> dict:
        """cfg-options of ``method``'s test stage (weights come from its
        checkpoint)."""
        p, o = self.preset, OrderedDict()
        cfg = self.configs.config(self.protocol_config(protocol, method))
        o['randomness.seed'] = seed
        if method not in self.encoders:
            o['model.backbone.depth'] = p['depth']
        o['model.backbone.init_cfg'] = None  # weights come from the ckpt
        o.update(
            self._downstream_model_options(cfg, 'test_dataloader',
                                           self.encoder_channels(method)))
        self._loader_options(o, ['test_dataloader'])
        if p['img_size']:
            o.update(
                resolution_options(cfg, p['img_size'], ['test_dataloader']))
        o.update(self._data_options(['test_dataloader']))
        return o

    def knn_options(self,
                    seed: int,
                    ckpt: Optional[str],
                    method: Optional[str] = None) -> dict:
        """cfg-options of the k-NN stage: the fine-tune stage's, 0 epochs
        (its ``KNNEvalHook`` evaluates the initial weights, ``ckpt``)."""
        o = self.downstream_train_options('finetune', seed, ckpt, method)
        o['train_cfg.max_epochs'] = 0
        o.pop(WARMUP_END_KEY, None)  # it trains nothing (see knn())
        return o
