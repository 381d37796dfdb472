# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The config each stage runs: the shipped config when ``--cfg-options``
can say everything (a MedMNIST file, the offline photo pool, no extra hook
or metric), else a generated *wrapper*, a few lines under
``<work_dir>/generated/configs/`` that ``_base_`` the shipped config and
change:

- the datasets of an image-folder target: ``CustomDataset`` over generated
  image lists, ``LoadImageFromFile`` in front of each pipeline;
- MixSSL's auxiliary images (``--aux-root``) in every ``CrossDomainMixup``;
- a binary task's test metrics: ``PositiveClassMetric`` added;
- the hooks: ``KNNEvalHook`` in the k-NN stage (a 0-epoch run of the
  fine-tune config; bank: the train subset, queries: the test split, both
  with the test pipeline); ``BNRecalibrationHook`` in the linear probe and
  k-NN stage with ``--recalibrate-bn`` (over the same bank);
- the encoder of a method that keeps its config's own (non-ResNet) one
  (:func:`.config_fit.own_encoder`), frozen whole in the linear probe;
- a label fraction's train ``indices``.

A file's name ends in a hash of its content (the repository written as
``<repo>``), so a stage's command, hence its ``done.json`` fingerprint,
changes exactly when what the stage reads changes. :func:`merged` applies
the overrides in memory as ``_base_`` inheritance does, so the plan
computes its ``--cfg-options`` on the config the stage will load.
"""
import argparse
import copy
import hashlib
import os
import os.path as osp
import pprint
import threading
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config, DictAction

from .config_fit import data_overrides
from .recipe import optimizer_overrides

LOAD = dict(type='LoadImageFromFile')
RECALIBRATE_BN = dict(type='BNRecalibrationHook')

_CONFIG_CACHE: dict = {}
_CONFIG_LOCK = threading.Lock()  # mmengine's Config parsing is not reentrant


def load_config(path: str) -> Config:
    """The parsed config at ``path``, parsed once per process; callers must
    not modify it."""
    with _CONFIG_LOCK:
        if path not in _CONFIG_CACHE:
            _CONFIG_CACHE[path] = Config.fromfile(path)
        return _CONFIG_CACHE[path]


def parse_cfg_options(options: Sequence[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1}`` as ``--cfg-options`` reads it."""
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o


def _plain(value):
    """ConfigDicts -> dicts, recursively (for ``repr``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def merged(cfg: Config, overrides: Dict) -> Config:
    """``cfg`` with ``overrides`` merged as a child config's keys are merged
    into its ``_base_``; ``cfg`` is not changed."""
    out = copy.deepcopy(cfg)
    if overrides:
        d = Config._merge_a_into_b(
            copy.deepcopy(_plain(overrides)), out._cfg_dict.to_dict())
        out = Config(d, filename=cfg.filename)
    return out


def with_loader(pipeline: Sequence) -> list:
    """``pipeline`` starting with ``LoadImageFromFile``."""
    pipeline = [_plain(t) for t in pipeline]
    if pipeline and pipeline[0].get('type') == LOAD['type']:
        return pipeline
    return [dict(LOAD)] + pipeline


class GeneratedFiles:
    """Content-addressed files under ``<work_dir>/generated/``, written by
    :meth:`write` only; ``root`` (the working directory) and ``work_dir``
    are hashed as ``<repo>`` / ``<work_dir>``."""

    def __init__(self, work_dir: str, root: Optional[str] = None):
        self.work_dir = work_dir
        self.dir = osp.join(work_dir, 'generated')
        self.root = root or os.getcwd()
        self.files: 'OrderedDict[str, str]' = OrderedDict()

    def add(self, sub: str, stem: str, ext: str, content: str) -> str:
        """The path ``<dir>/<sub>/<stem>-<hash><ext>`` of ``content``."""
        stable = content.replace(self.work_dir,
                                 '<work_dir>').replace(self.root, '<repo>')
        digest = hashlib.sha1(stable.encode()).hexdigest()[:8]
        path = osp.join(self.dir, sub, f'{stem}-{digest}{ext}')
        self.files[path] = content
        return path

    def write(self) -> List[str]:
        """Write every added file that is missing; the paths written."""
        written = []
        for path, content in self.files.items():
            if not osp.isfile(path):
                os.makedirs(osp.dirname(path), exist_ok=True)
                tmp = f'{path}.tmp{os.getpid()}'
                with open(tmp, 'w') as f:
                    f.write(content)
                os.replace(tmp, path)
                written.append(path)
        return written


def wrapper_text(base: str, overrides: Dict, root: str) -> str:
    """A config that inherits ``base`` (relative to ``root``) and sets the
    top-level keys ``overrides``."""
    lines = [
        '# Generated by tools/benchmark.py: the config below with the '
        "benchmark's changes", '# (see docs/benchmark.md). Edit the '
        'options, not this file.', f'_base_ = [{osp.join(root, base)!r}]'
    ]
    for key, value in overrides.items():
        lines.append(f'{key} = ' +
                     pprint.pformat(_plain(value), width=79, sort_dicts=False))
    return '\n'.join(lines) + '\n'


def image_lists(target, task, seed: int = 0) -> Dict[str, Dict[str, str]]:
    """split -> ``{'labelled': 'CLASS/x.png 0\\n…', 'images':
    'CLASS/x.png\\n…'}`` for ``CustomDataset(ann_file=...)``: the task's
    classes, labelled ``0..k-1``; the train list shuffled once with ``seed``
    (the presets' "first N train images" are a random sample)."""
    remap = {cid: j for j, cid in enumerate(task.ids)}
    out = {}
    for split in ('train', 'test'):
        kept = [(p, remap[c]) for p, c in target.files[split] if c in remap]
        if split == 'train':
            order = np.random.default_rng(seed).permutation(len(kept))
            kept = [kept[i] for i in order]
        out[split] = dict(
            labelled=''.join(f'{p} {c}\n' for p, c in kept),
            images=''.join(f'{p}\n' for p, _ in kept))
    return out


def folder_dataset(target,
                   split: str,
                   ann_file: str,
                   pipeline: Sequence,
                   classes: Optional[Sequence[str]] = None) -> dict:
    """A ``CustomDataset`` over ``target``'s ``split`` listed in
    ``ann_file`` (images only when ``classes`` is None), replacing the
    shipped dataset (``_delete_``)."""
    d = dict(
        _delete_=True,
        type='CustomDataset',
        data_root=target.path,
        data_prefix=target.splits[split],
        ann_file=ann_file,
        with_label=classes is not None)
    if classes is not None:
        d['metainfo'] = dict(classes=tuple(classes))
    d['pipeline'] = with_loader(pipeline)
    return d


def replace_aux(pipeline: Sequence, aux_root: str) -> list:
    """``pipeline`` with every ``CrossDomainMixup`` drawing from the folder
    ``aux_root``, loaded by ``LoadImageFromFile`` and augmented by the
    shipped auxiliary pool's pipeline."""
    out = []
    for t in map(_plain, pipeline):
        if t.get('type') == 'CrossDomainMixup':
            aux = t.get('aux_dataset')
            old = (aux.get('pipeline') if isinstance(aux, dict) else None) \
                or t.get('aux_pipeline') or []
            t = dict(
                t,
                aux_dataset=aux_root,
                aux_pipeline=with_loader(
                    [s for s in old if s.get('type') != LOAD['type']]))
        out.append(t)
    return out


def _frozen_all(backbone: dict) -> int:
    """The ``frozen_stages`` that freezes every stage (ConvNeXt) or layer
    (ViT) of ``backbone``, read from the built encoder."""
    from mmpretrain.registry import MODELS
    encoder = MODELS.build(copy.deepcopy(backbone))
    for attr in ('num_layers', 'num_stages'):
        if isinstance(getattr(encoder, attr, None), int):
            return getattr(encoder, attr)
    raise ValueError(f'{type(encoder).__name__} names neither num_layers nor '
                     'num_stages: cannot freeze it for the linear probe.')


def encoder_override(backbone: dict, protocol: str) -> dict:
    """The ``model`` key of a downstream wrapper that uses ``backbone``
    instead of the ResNet (loaded as ``Pretrained``, prefix ``backbone.``;
    frozen whole in the linear probe)."""
    new = dict(
        copy.deepcopy(backbone),
        _delete_=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.'))
    if protocol == 'linear':
        new['frozen_stages'] = _frozen_all(backbone)
    return dict(backbone=new)


class StageConfigs:
    """Config paths of the stages of ``plan`` (:class:`~.planning.Plan`:
    its target, task, downstream configs, positive class, aux folder,
    recipe, workers, ``--recalibrate-bn``) and the configs they load."""

    def __init__(self, plan):
        self.plan = plan
        self.files = GeneratedFiles(plan.work_dir)
        self.target, self.task = plan.target, plan.task
        self.downstream, self.aux = plan.downstream, plan.aux
        self.recalibrate_bn = plan.args.recalibrate_bn
        self.workers = plan.preset['num_workers']
        self._clean = None
        self._merged: Dict[str, Config] = {}
        self._paths: Dict[tuple, str] = {}
        self.lists = {}
        if self.target.kind == 'folder':
            for split, texts in image_lists(self.target, self.task).items():
                self.lists[split] = {
                    kind: self.files.add('data', f'{split}-{kind}', '.txt',
                                         text)
                    for kind, text in texts.items()
                }

    def config(self, path: str) -> Config:
        """The config a stage with config ``path`` loads (before its
        ``--cfg-options``)."""
        return self._merged.get(path) or load_config(path)

    def _stage(self, key: tuple, stem: str, base: str, build) -> str:
        """``base`` when ``build()`` overrides nothing, else the wrapper's
        path; cached by ``key``."""
        if key not in self._paths:
            overrides, path = build(), base
            if overrides:
                path = self.files.add(
                    'configs', stem, '.py',
                    wrapper_text(base, overrides, self.files.root))
                self._merged.setdefault(path,
                                        merged(load_config(base), overrides))
            self._paths[key] = path
        return self._paths[key]

    def _with_encoder(self, protocol: str, encoder) -> dict:
        o = copy.deepcopy(self.downstream_overrides(protocol))
        if encoder is not None:
            o['model'] = encoder_override(encoder[1], protocol)
        return o

    @staticmethod
    def _stem(stem: str, encoder) -> str:
        return stem if encoder is None else f'{stem}_{encoder[0]}'

    def pretrain(self, method: str, config: str) -> str:
        """The pretraining config of ``method`` (shipped: ``config``)."""
        return self._stage(('pretrain', method), f'{method}_pretrain', config,
                           lambda: self.pretrain_overrides(config))

    def protocol(self, protocol: str, encoder=None) -> str:
        """The config of a fine-tune / linear-probe stage and its test;
        ``encoder``: ``(method, backbone)`` of a method with its own encoder
        (None: the ResNet)."""
        return self._stage(('downstream', protocol, encoder and encoder[0]),
                           self._stem(protocol,
                                      encoder), self.downstream[protocol],
                           lambda: self._with_encoder(protocol, encoder))

    def label_subset(self,
                     protocol: str,
                     seed: int,
                     indices: Sequence[int],
                     encoder=None) -> str:
        """The config of a label-fraction fine-tune with ``seed``: the
        fine-tune's, training on the ``data_list`` positions ``indices``."""

        def build():
            overrides = self._with_encoder('finetune', encoder)
            loader = overrides.setdefault('train_dataloader', {})
            loader.setdefault('dataset', {})['indices'] = list(indices)
            return overrides

        return self._stage(('subset', protocol, seed, encoder and encoder[0]),
                           self._stem(f'{protocol}_seed{seed}', encoder),
                           self.downstream['finetune'], build)

    def clean_datasets(self) -> Tuple[dict, dict]:
        """``(train, test)`` datasets of the downstream stages, both with the
        test pipeline: k-NN's bank and queries, the BatchNorm
        re-estimation's images."""
        if self._clean is None:
            # a fine-tune stage's options decide the train subset
            options = self.plan.knn_options(0, None)
            extra = self.plan.args.downstream_cfg_options
            cfg = merged(
                load_config(self.downstream['finetune']),
                self.downstream_overrides('finetune'))
            cfg.merge_from_dict(dict(options), allow_list_keys=True)
            cfg.merge_from_dict(parse_cfg_options(extra), allow_list_keys=True)
            test = cfg.test_dataloader.dataset.to_dict()
            train = dict(
                cfg.train_dataloader.dataset.to_dict(),
                pipeline=test['pipeline'])
            self._clean = (train, test)
        return self._clean

    def _recalibrate_bn(self) -> dict:
        return dict(
            RECALIBRATE_BN,
            dataset=self.clean_datasets()[0],
            num_workers=self.workers)

    def knn(self, encoder=None) -> str:
        """The k-NN stage's config: the fine-tune config and a
        ``KNNEvalHook`` (k = 20, T = 0.07) over :meth:`clean_datasets`."""

        def build():
            base = self.downstream['finetune']
            hooks = list(load_config(base).get('custom_hooks') or [])
            if self.recalibrate_bn:
                hooks.append(self._recalibrate_bn())
            bank, query = self.clean_datasets()
            hooks.append(
                dict(
                    type='KNNEvalHook',
                    bank_dataset=bank,
                    query_dataset=query,
                    interval=0,
                    before_train=True,
                    at_end=True,
                    num_workers=self.workers))
            overrides = dict(
                self._with_encoder('finetune', encoder), custom_hooks=hooks)
            if 'param_scheduler' in overrides:
                # 0 epochs: a schedule would end before it begins
                overrides['param_scheduler'] = []
            return overrides

        return self._stage(('knn', encoder and encoder[0]),
                           self._stem('knn', encoder),
                           self.downstream['finetune'], build)

    def pretrain_overrides(self, config: str) -> dict:
        """Top-level keys of a pretraining wrapper: the recipe's, the
        data's (:func:`~.config_fit.data_overrides`), the aux folder's."""
        cfg = load_config(config)
        o = optimizer_overrides(self.plan.recipe, stage='pretrain', config=cfg)
        o.update(data_overrides(cfg, self.target))
        pipeline = cfg.train_dataloader.dataset.pipeline
        if 'train_dataloader' in o:
            pipeline = o['train_dataloader']['dataset']['pipeline']
        changed = False
        if self.aux is not None and any(
                t.get('type') == 'CrossDomainMixup'
                for t in cfg.train_dataloader.dataset.get('pipeline', [])):
            pipeline, changed = replace_aux(pipeline, self.aux.root), True
        if self.target.kind == 'folder':
            o['train_dataloader'] = dict(
                dataset=folder_dataset(self.target, 'train', self.
                                       lists['train']['images'], pipeline))
        elif changed:
            loader = o.setdefault('train_dataloader', {})
            loader.setdefault('dataset', {})['pipeline'] = pipeline
        return o

    def downstream_overrides(self, protocol: str) -> dict:
        """Top-level keys of a fine-tune / linear-probe (and test) wrapper:
        the recipe's; the linear probe trains on clean views (the test
        pipeline), so it scores the frozen features, not augmentation; the
        data's, metrics and hooks."""
        cfg = load_config(self.downstream[protocol])
        o = optimizer_overrides(self.plan.recipe, stage=protocol)
        pipelines = dict(
            train=cfg.train_dataloader.dataset.pipeline,
            test=cfg.test_dataloader.dataset.pipeline)
        if protocol == 'linear':
            pipelines['train'] = pipelines['test']
            o['train_dataloader'] = dict(
                dataset=dict(pipeline=pipelines['test']))
        if self.target.kind == 'folder':
            for loader, split in (('train_dataloader', 'train'),
                                  ('test_dataloader', 'test')):
                o[loader] = dict(
                    dataset=folder_dataset(
                        self.target, split, self.lists[split]['labelled'],
                        pipelines[split], self.task.classes))
            # the shipped MedMNIST val set would be left in the config
            o.update(val_dataloader=None, val_cfg=None, val_evaluator=None)
        if self.plan.positive is not None:
            metrics = cfg.test_evaluator
            metrics = list(metrics) if isinstance(metrics, (list, tuple)) \
                else [metrics]
            o['test_evaluator'] = metrics + [
                dict(type='PositiveClassMetric', pos_label=self.plan.positive)
            ]
        if self.recalibrate_bn and protocol == 'linear':
            o['custom_hooks'] = list(cfg.get('custom_hooks')
                                     or []) + [self._recalibrate_bn()]
        return o
