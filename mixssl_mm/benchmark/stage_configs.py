# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The config each benchmark stage runs: the shipped config when the run
needs nothing ``--cfg-options`` cannot say (BloodMNIST or another MedMNIST
file, the offline photo pool, no extra hook or metric: the commands of
earlier versions), else a generated wrapper config
(:mod:`.wrappers`) that changes:

- the datasets, for an image-folder target: ``CustomDataset`` over
  generated image lists, ``LoadImageFromFile`` in front of each pipeline;
- MixSSL's auxiliary images, for ``--aux-root``: every ``CrossDomainMixup``
  draws from the folder (labelled by sub-folder when it has them);
- the test metrics of a binary task: ``PositiveClassMetric`` added;
- the hooks: ``KNNEvalHook`` in the k-NN stage, a 0-epoch run of the
  fine-tune config whose hook embeds the train subset (bank) and the test
  split (queries) with the test pipeline; with ``--recalibrate-bn``,
  ``BNRecalibrationHook`` in the linear probe and the k-NN stage, averaging
  the BatchNorm statistics over that same bank: the clean train images as
  the test pipeline shows them;
- the encoder, for a method that keeps its config's own (non-ResNet)
  encoder (:func:`.config_fit.own_encoder`): that backbone dict (its
  feature-map option included) in place of the ResNet, loaded from the
  pretraining checkpoint as the ResNet is (``Pretrained``, prefix
  ``backbone.``), behind the same ``GlobalAveragePooling``; frozen whole in
  the linear probe (:func:`encoder_override`).
"""
import argparse
import copy
from typing import Callable, Dict, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from .config_fit import data_overrides
from .recipe import DEFAULT_RECIPE, optimizer_overrides
from .wrappers import (GeneratedFiles, folder_dataset, has_cross_domain_mixup,
                       image_lists, knn_hook, load_config, merged, replace_aux,
                       wrapper_text)

RECALIBRATE_BN = dict(type='BNRecalibrationHook')


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
    (the pretraining config's) instead of the shipped config's ResNet: the
    same ``Pretrained`` loading (the stage's cfg-options set its
    checkpoint), every stage frozen in the linear probe."""
    new = dict(
        copy.deepcopy(backbone),
        _delete_=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.'))
    if protocol == 'linear':
        new['frozen_stages'] = _frozen_all(backbone)
    return dict(backbone=new)


def parse_cfg_options(options: Sequence[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1}`` as mmengine's ``DictAction``
    reads ``--cfg-options``."""
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o


class StageConfigs:
    """Config paths of the stages and the configs they load.

    Args:
        work_dir: where generated files go (``<work_dir>/generated``).
        target, task: see :mod:`.data`.
        downstream: protocol -> shipped fine-tune / linear-probe config.
        positive: the positive class of a binary task (None: not binary).
        aux: the ``--aux-root`` folder (:class:`.data.AuxFolder`) or None.
        recalibrate_bn: add ``BNRecalibrationHook`` to the linear probe and
            the k-NN stage.
        workers: data-loading workers of the k-NN and recalibration hooks.
        recipe: the training recipe of every pretraining, fine-tune and
            linear-probe stage (:mod:`.recipe`).
        eval_options: ``() -> (options, extra)``: the cfg-options of a
            fine-tune stage and the user's ``--downstream-cfg-options``, which
            decide the train subset and the test pipeline of the clean
            datasets (:meth:`clean_datasets`).
    """

    def __init__(self,
                 work_dir: str,
                 target,
                 task,
                 downstream: Dict[str, str],
                 positive: Optional[int] = None,
                 aux=None,
                 recalibrate_bn: bool = False,
                 workers: int = 0,
                 recipe: str = DEFAULT_RECIPE,
                 eval_options: Optional[Callable[[], tuple]] = None):
        self.files = GeneratedFiles(work_dir)
        self.target, self.task, self.downstream = target, task, downstream
        self.positive, self.aux = positive, aux
        self.recalibrate_bn, self.workers = recalibrate_bn, workers
        self.recipe = recipe
        self.eval_options = eval_options or (lambda: ({}, []))
        self._clean = None
        self._merged: Dict[str, Config] = {}
        self._paths: Dict[tuple, str] = {}
        self.lists = {}
        if target.kind == 'folder':
            for split, texts in image_lists(target, task).items():
                self.lists[split] = {
                    kind: self.files.add('data', f'{split}-{kind}', '.txt',
                                         text)
                    for kind, text in texts.items()
                }

    # ------------------------------------------------------------ paths
    def config(self, path: str) -> Config:
        """The config a stage with config ``path`` loads (before its
        ``--cfg-options``)."""
        return self._merged.get(path) or load_config(path)

    def _stage(self, stem: str, base: str, overrides: dict) -> str:
        """``base`` itself without overrides, else the wrapper's path."""
        if not overrides:
            return base
        path = self.files.add('configs', stem, '.py',
                              wrapper_text(base, overrides, self.files.root))
        self._merged.setdefault(path, merged(load_config(base), overrides))
        return path

    def _cached(self, key: tuple, build) -> str:
        if key not in self._paths:
            self._paths[key] = build()
        return self._paths[key]

    def pretrain(self, method: str, config: str) -> str:
        """The pretraining config of ``method`` (shipped: ``config``)."""
        return self._cached(('pretrain', method), lambda: self._stage(
            f'{method}_pretrain', config, self.pretrain_overrides(config)))

    def _with_encoder(self, protocol: str, encoder) -> dict:
        """:meth:`downstream_overrides` and, with ``encoder`` (``(method,
        backbone)``), :func:`encoder_override`."""
        o = copy.deepcopy(self.downstream_overrides(protocol))
        if encoder is not None:
            o['model'] = encoder_override(encoder[1], protocol)
        return o

    @staticmethod
    def _stem(stem: str, encoder) -> str:
        return stem if encoder is None else f'{stem}_{encoder[0]}'

    def protocol(self, protocol: str, encoder=None) -> str:
        """The config of a fine-tune / linear-probe stage and its test;
        ``encoder``: ``(method, backbone)`` of a method with its config's own
        encoder (None: the shipped config's ResNet)."""
        base = self.downstream[protocol]
        name = encoder and encoder[0]
        return self._cached(('downstream', protocol, name),
                            lambda: self._stage(
                                self._stem(protocol, encoder), base,
                                self._with_encoder(protocol, encoder)))

    def label_subset(self,
                     protocol: str,
                     seed: int,
                     indices: Sequence[int],
                     encoder=None) -> str:
        """The config of a label-fraction fine-tune (``protocol``, e.g.
        ``finetune_10pct``) with ``seed``: the fine-tune's, training on the
        ``data_list`` positions ``indices`` (mmengine ``indices``);
        ``encoder`` as in :meth:`protocol`."""

        def build():
            overrides = self._with_encoder('finetune', encoder)
            loader = overrides.setdefault('train_dataloader', {})
            loader.setdefault('dataset', {})['indices'] = list(indices)
            return self._stage(
                self._stem(f'{protocol}_seed{seed}', encoder),
                self.downstream['finetune'], overrides)

        return self._cached(('subset', protocol, seed, encoder and encoder[0]),
                            build)

    def clean_datasets(self) -> Tuple[dict, dict]:
        """``(train, test)`` dataset configs of the downstream stages as
        their cfg-options (:attr:`eval_options`) leave them, both with the
        test pipeline: k-NN's bank and queries, and the images the
        BatchNorm re-estimation averages over (the train subset)."""
        if self._clean is None:
            options, extra = self.eval_options()
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
        ``KNNEvalHook`` over :meth:`clean_datasets` (bank: train subset,
        queries: test split); ``encoder`` as in :meth:`protocol`."""

        def build():
            base = self.downstream['finetune']
            hooks = list(load_config(base).get('custom_hooks') or [])
            if self.recalibrate_bn:
                hooks.append(self._recalibrate_bn())
            hooks.append(knn_hook(*self.clean_datasets(), self.workers))
            overrides = dict(
                self._with_encoder('finetune', encoder), custom_hooks=hooks)
            if 'param_scheduler' in overrides:
                # 0 epochs: a schedule would end before it begins
                overrides['param_scheduler'] = []
            return self._stage(self._stem('knn', encoder), base, overrides)

        return self._cached(('knn', encoder and encoder[0]), build)

    # ------------------------------------------------------------ overrides
    def pretrain_overrides(self, config: str) -> dict:
        """Top-level keys a pretraining wrapper sets ({} for none): the
        recipe's (:func:`~.recipe.optimizer_overrides` of the config), the
        data's (:func:`~.config_fit.data_overrides`: the target in place of
        another dataset, e.g. an mmpretrain config's ImageNet)."""
        cfg = load_config(config)
        o = optimizer_overrides(self.recipe, stage='pretrain', config=cfg)
        o.update(data_overrides(cfg, self.target))
        pipeline = cfg.train_dataloader.dataset.pipeline
        if 'train_dataloader' in o:
            pipeline = o['train_dataloader']['dataset']['pipeline']
        changed = False
        if self.aux is not None and has_cross_domain_mixup(cfg):
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
        pipeline: whole image, no crop or flip), so it scores the frozen
        features, not augmentation; the data's, metrics and hooks."""
        cfg = load_config(self.downstream[protocol])
        o = optimizer_overrides(self.recipe, stage=protocol)
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
        if self.positive is not None:
            metrics = cfg.test_evaluator
            metrics = list(metrics) if isinstance(metrics, (list, tuple)) \
                else [metrics]
            o['test_evaluator'] = metrics + [
                dict(type='PositiveClassMetric', pos_label=self.positive)
            ]
        if self.recalibrate_bn and protocol == 'linear':
            o['custom_hooks'] = list(cfg.get('custom_hooks')
                                     or []) + [self._recalibrate_bn()]
        return o
