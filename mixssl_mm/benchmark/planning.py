# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's plan: which stages run (per method and seed)::

    pretrain -> fine-tune -> test        (Rand: no pretraining)
             -> linear probe -> test

where each runs (``stage_dir``), and the ``--cfg-options`` each stage gets
from the preset and the command-line arguments. Every stage is a normal mm
run: ``python -m mixssl_mm.apis.train`` / ``mixssl_mm.apis.test`` on a
shipped config (paths relative to the current working directory, the
repository root).
"""
import copy
import os
import os.path as osp
import sys
import threading
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config

from .methods import (DOWNSTREAM, METHOD_GROUPS, METHODS, PAPER_4,
                      expand_methods, feature_channels, method_cli_name,
                      resolution_options)
from .presets import PRESETS, preset_key

TRAIN_MODULE = 'mixssl_mm.apis.train'
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


_CONFIG_CACHE: dict = {}
_CONFIG_LOCK = threading.Lock()  # mmengine's Config parsing is not reentrant


def load_config(path: str) -> Config:
    """The parsed config at ``path`` (relative to the working directory),
    parsed once per process; callers must not modify it."""
    with _CONFIG_LOCK:
        if path not in _CONFIG_CACHE:
            _CONFIG_CACHE[path] = Config.fromfile(path)
        return _CONFIG_CACHE[path]


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
        self.methods = expand_methods(
            args.methods or ([] if args.ablations else p['methods']))
        if args.ablations:
            self.methods += [
                m for m in METHOD_GROUPS['ablations'] if m not in self.methods
            ]
        self.protocols = list(args.protocols)
        self.jobs = p['jobs'] if args.jobs is None else args.jobs
        self.threads = args.threads or p['threads']
        if self.threads is None and self.jobs > 1:
            self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.seeds = args.seeds if args.seeds is not None else p['seeds']
        self.work_dir = osp.abspath(
            args.work_dir or osp.join('work_dirs', 'benchmark', args.preset))
        if args.classes_subset is not None:  # any file, some classes
            self.subset, task = list(args.classes_subset), '8'
        elif args.num_classes:  # any file, all its classes
            self.subset, task = None, '8'
        elif args.classes == '4':  # BloodMNIST, the paper task
            self.subset, task = PAPER_4, '4'
        else:  # BloodMNIST, all 8 classes
            self.subset, task = None, '8'
        self.num_classes = (
            len(self.subset) if self.subset is not None else
            args.num_classes or (4 if task == '4' else 8))
        self.downstream = DOWNSTREAM[task]
        self.channels = feature_channels(p['depth'])
        self._check()

    def _check(self):
        p, a = self.preset, self.args
        mixssl_like = [m for m in self.methods if METHODS[m].get('objective')]
        if mixssl_like and p['img_size'] and p['img_size'] % 32:
            raise SystemExit(
                f"preset {self.preset_name}: img_size={p['img_size']} is not "
                'a multiple of 32, which MixSSL needs (ResNet stride 32).')
        if 'imagenet_self' in self.methods:
            if not a.imagenet_ckpt:
                raise SystemExit(
                    'method imagenet-self fine-tunes from ImageNet weights: '
                    'pass --imagenet-ckpt PATH, a checkpoint converted with '
                    'tools/model_converters/ (see docs/model_converters.md).')
            if not osp.isfile(a.imagenet_ckpt):
                raise SystemExit(
                    f'--imagenet-ckpt {a.imagenet_ckpt}: no such file. '
                    'Convert torchvision or DINO ResNet weights with '
                    'tools/model_converters/ first.')
        for m in self.methods:
            cfg = METHODS[m]['config']
            if cfg and not osp.isfile(cfg):
                raise SystemExit(f'method {method_cli_name(m)}: config {cfg} '
                                 'is missing from this checkout (run from the '
                                 'repository root).')
        if self.jobs < 1:
            raise SystemExit(f'--jobs must be >= 1, got {self.jobs}.')
        q = p['method_options'].get('mocov2', {}).get('model.queue_len')
        if 'mocov2' in self.methods and q and q % p['batch_size']:
            raise SystemExit(
                f'MoCo queue_len {q} is not a multiple of the batch size '
                f"{p['batch_size']}.")

    # -- the stages ------------------------------------------------------
    def chains(self) -> List[Tuple[str, int]]:
        """The independent (method, seed) chains, seed-major."""
        return [(m, s) for s in self.seeds for m in self.methods]

    def size(self) -> int:
        """Number of stages: per chain, a pretraining (methods with a
        config) and a train + test per protocol."""
        return sum(
            len(self.seeds) * ((1 if METHODS[m]['config'] else 0) +
                               2 * len(self.protocols)) for m in self.methods)

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

    def _common_train_options(self, cfg, epochs: int, seed: int) -> dict:
        p, o = self.preset, OrderedDict()
        o['randomness.seed'] = seed
        o['model.backbone.depth'] = p['depth']
        o['train_cfg.max_epochs'] = epochs
        o['train_dataloader.batch_size'] = p['batch_size']
        o['default_hooks.checkpoint.max_keep_ckpts'] = 1
        o['default_hooks.logger.interval'] = 10
        self._loader_options(o, ['train_dataloader'])
        if p['train_subset']:
            o['train_dataloader.dataset.indices'] = p['train_subset']
        if p['img_size']:
            o.update(resolution_options(cfg, p['img_size']))
        return o

    def pretrain_options(self, method: str, seed: int) -> dict:
        """cfg-options of ``method``'s pretraining stage."""
        p, m = self.preset, METHODS[method]
        cfg = load_config(m['config'])
        o = self._common_train_options(cfg, p['pretrain_epochs'], seed)
        o.update(m['channels'](self.channels))
        if p['pretrain_lr'] is not None:
            o['optim_wrapper.optimizer.lr'] = p['pretrain_lr']
        if self.subset is not None:
            o['train_dataloader.dataset.classes_subset'] = self.subset
        o.update(self._data_options(['train_dataloader']))
        o.update(p['method_options'].get(method, {}))
        return o

    def _downstream_model_options(self, cfg, loader: str) -> dict:
        o = OrderedDict()
        o['model.head.in_channels'] = self.channels
        necks = cfg.model.get('neck')
        if isinstance(necks, (list, tuple)):  # e.g. GAP + ClsBatchNormNeck
            for i, n in enumerate(necks):
                if 'input_features' in n:
                    o[f'model.neck.{i}.input_features'] = self.channels
        if self.args.classes_subset is not None or self.args.num_classes:
            o['model.head.num_classes'] = self.num_classes
            o['data_preprocessor.num_classes'] = self.num_classes
            o[f'{loader}.dataset.classes_subset'] = self.subset
        return o

    def downstream_train_options(self, protocol: str, seed: int,
                                 ckpt: Optional[str]) -> dict:
        """cfg-options of a fine-tune / linear-probe training stage that
        starts from the encoder in ``ckpt`` (None: random init, Rand)."""
        p = self.preset
        cfg = load_config(self.downstream[protocol])
        epochs = p['finetune_epochs' if protocol == 'finetune' else
                   'linear_epochs']
        o = self._common_train_options(cfg, epochs, seed)
        for k in [k for k in o if k.startswith('val_dataloader.')]:
            del o[k]  # validation is off
        o.update(self._downstream_model_options(cfg, 'train_dataloader'))
        # the final checkpoint is tested; no model selection on val
        o['val_dataloader'] = None
        o['val_cfg'] = None
        o['val_evaluator'] = None
        o['default_hooks.checkpoint.save_best'] = None
        if ckpt is None:  # Rand: no pretrained weights
            o['model.backbone.init_cfg'] = None
        else:
            o['model.backbone.init_cfg.checkpoint'] = ckpt
        o.update(self._data_options(['train_dataloader']))
        return o

    def test_options(self, protocol: str, seed: int) -> dict:
        """cfg-options of a test stage (weights come from its checkpoint)."""
        p, o = self.preset, OrderedDict()
        cfg = load_config(self.downstream[protocol])
        o['randomness.seed'] = seed
        o['model.backbone.depth'] = p['depth']
        o['model.backbone.init_cfg'] = None  # weights come from the ckpt
        o.update(self._downstream_model_options(cfg, 'test_dataloader'))
        self._loader_options(o, ['test_dataloader'])
        if p['img_size']:
            o.update(
                resolution_options(cfg, p['img_size'], ['test_dataloader']))
        o.update(self._data_options(['test_dataloader']))
        return o
