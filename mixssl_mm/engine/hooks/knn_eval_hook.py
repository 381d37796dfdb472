"""Online weighted k-NN evaluation of a self-supervised encoder."""
import time
from typing import List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.dist import (broadcast, broadcast_object_list, collect_results,
                           get_rank, get_world_size)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS
from torch.utils.data import DataLoader, Dataset, Subset

from mixssl_mm.evaluation.functional.knn import knn_top1


def pool_features(out: Union[torch.Tensor, tuple, list]) -> torch.Tensor:
    """Backbone output -> globally pooled features ``(N, C)``.

    mmpretrain backbones return a tuple, one entry per ``out_indices``; the
    last (deepest) is used. ``(N, C, H, W)`` maps are average-pooled over
    space (a ResNet's pooled feature, what DINO's k-NN evaluates);
    ``(N, C)`` vectors (e.g. a ViT's ``cls_token``) are used as they are.

    Raises:
        ValueError: Any other shape (e.g. a ViT with ``out_type='raw'``).
    """
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if out.ndim == 4:
        return F.adaptive_avg_pool2d(out, 1).flatten(1)
    if out.ndim == 2:
        return out
    raise ValueError(
        'KNNEvalHook: the backbone returned features of shape '
        f'{tuple(out.shape)}; expected (N, C, H, W) maps or (N, C) vectors '
        "(for a ViT use out_type='cls_token' or 'avg_featmap').")


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Weighted k-NN top-1 of the encoder's features, during pretraining.

    Every ``interval`` epochs (or iterations with ``by_epoch=False``) and at
    the end of training, the backbone (``runner.model.backbone``, unwrapped
    from DDP) embeds a labelled memory bank (``bank_dataset``) and the
    queries (``query_dataset``) in eval mode under ``torch.no_grad``; the
    features are globally average-pooled and L2-normalised, and each query
    is classified by its ``k`` most cosine-similar bank entries voting with
    weight ``exp(sim / temperature)`` (Wu et al. 2018, "Unsupervised
    Feature Learning via Non-Parametric Instance Discrimination"; DINO's
    ``eval_knn.py``; math in :mod:`mixssl_mm.evaluation.functional.knn`).
    The backbone's previous train/eval mode is restored afterwards.

    Images go through the given pipeline, are batched with
    ``default_collate`` and pass through ``model.data_preprocessor`` (its
    mean/std and BGR->RGB, as in training; of a multi-view output only the
    first view is used), so the pipeline should be deterministic and end in
    ``PackInputs`` with fixed-size images, e.g. ``[LoadImageFromFile,
    Resize, PackInputs]``, or ``[Resize, PackInputs]`` for ``MedMNIST``
    (``with_label=True``).

    Under distributed training each rank embeds its share (mmengine's
    ``DefaultSampler``) and the features are gathered with
    ``mmengine.dist.collect_results``; rank 0 classifies and broadcasts.
    For the evaluation every rank uses rank 0's backbone buffers (BatchNorm
    statistics), so the number is that of the model rank 0 checkpoints;
    each rank's own buffers are put back afterwards.

    **Output.** ``<prefix>/top1`` (percent) goes to ``runner.message_hub``
    and ``runner.visualizer.add_scalars`` -- so to every visualizer backend:
    the local one writes ``{"knn/top1": 71.2, "step": 3}`` lines to
    ``<work_dir>/<timestamp>/vis_data/scalars.json``, TensorBoard a curve.
    ``step`` is the number of finished epochs (iterations with
    ``by_epoch=False``). Also logged as a text line, and kept in
    :attr:`results` (one dict per evaluation: epoch, iter, top1, bank_size,
    num_queries, seconds).

    Args:
        bank_dataset (dict | Dataset): Labelled memory bank, e.g. the
            training split with ``with_label=True`` and a test pipeline.
        query_dataset (dict | Dataset): Labelled queries, e.g. the test split.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        interval (int): Evaluate every ``interval`` epochs (iterations if
            ``by_epoch=False``); 0 evaluates only at the end.
            Defaults to 1.
        by_epoch (bool): Whether ``interval`` counts epochs.
            Defaults to True.
        at_end (bool): Also evaluate after the last epoch/iteration (once,
            if the interval already did). Defaults to True.
        before_train (bool): Also evaluate the initial weights (random or
            ``init_cfg``/``load_from``), logged at step 0: the baseline the
            training must beat. Skipped when resuming. Defaults to False.
        bank_size (int, optional): Use a random subset of this many bank
            samples (drawn once with ``seed``). Defaults to None (all).
        query_size (int, optional): Same for the queries. Defaults to None.
        seed (int): Seed of the subsets. Defaults to 0.
        batch_size (int): Images per forward pass and rank. Defaults to 64.
        num_workers (int): Data-loading workers. Defaults to 2.
        collect_device (str): ``'cpu'`` or ``'gpu'``, how features are
            gathered across ranks (as in mmengine metrics). Defaults to
            ``'cpu'``.
        prefix (str): Scalar name prefix. Defaults to ``'knn'``.

    Raises:
        ValueError: In ``__init__`` for bad arguments; in ``before_run``
            (before the first iteration) when the model has no backbone, a
            dataset is empty or unlabelled, a subset is larger than its
            dataset, or ``k`` exceeds the bank size.
    """
    priority = 'NORMAL'

    def __init__(self,
                 bank_dataset: Union[dict, Dataset],
                 query_dataset: Union[dict, Dataset],
                 k: int = 20,
                 temperature: float = 0.07,
                 interval: int = 1,
                 by_epoch: bool = True,
                 at_end: bool = True,
                 before_train: bool = False,
                 bank_size: Optional[int] = None,
                 query_size: Optional[int] = None,
                 seed: int = 0,
                 batch_size: int = 64,
                 num_workers: int = 2,
                 collect_device: str = 'cpu',
                 prefix: str = 'knn') -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f'KNNEvalHook: k must be >= 1, got {k!r}.')
        if not temperature > 0:
            raise ValueError(
                f'KNNEvalHook: temperature must be > 0, got {temperature!r}.')
        if not isinstance(interval, int) or interval < 0:
            raise ValueError('KNNEvalHook: interval must be an int >= 0, '
                             f'got {interval!r}.')
        if interval == 0 and not (at_end or before_train):
            raise ValueError('KNNEvalHook: interval=0 with at_end=False and '
                             'before_train=False would never evaluate.')
        for name, size in (('bank_size', bank_size), ('query_size',
                                                      query_size)):
            if size is not None and (not isinstance(size, int) or size < 1):
                raise ValueError(
                    f'KNNEvalHook: {name} must be None or >= 1, got {size!r}.')
        if collect_device not in ('cpu', 'gpu'):
            raise ValueError("KNNEvalHook: collect_device must be 'cpu' or "
                             f"'gpu', got {collect_device!r}.")
        self.bank_cfg, self.query_cfg = bank_dataset, query_dataset
        self.k, self.temperature = k, float(temperature)
        self.interval, self.by_epoch, self.at_end = interval, by_epoch, at_end
        self.eval_before_train = before_train
        self.sizes = dict(bank=bank_size, query=query_size)
        self.seed, self.batch_size = seed, batch_size
        self.num_workers, self.collect_device = num_workers, collect_device
        self.prefix = prefix
        self.results: List[dict] = []
        self._loaders = {}
        self._num_classes = None
        self._last_eval_iter = None

    # ------------------------------------------------------------ set-up
    def _subset(self, role: str, cfg: Union[dict, Dataset]) -> Dataset:
        dataset = DATASETS.build(cfg) if isinstance(cfg, dict) else cfg
        n, size = len(dataset), self.sizes[role]
        if n == 0:
            raise ValueError(f'KNNEvalHook: the {role} dataset is empty.')
        if size is not None and size > n:
            raise ValueError(
                f'KNNEvalHook: {role}_size={size} but the {role} dataset has '
                f'only {n} samples; lower it or set None to use all.')
        if size is not None and size < n:
            # one fixed draw, identical on every rank and every evaluation
            idx = np.random.default_rng(self.seed).choice(n, size, False)
            dataset = Subset(dataset, sorted(idx.tolist()))
        sample = dataset[0]
        if not isinstance(sample, dict) or 'data_samples' not in sample:
            raise ValueError(
                f'KNNEvalHook: the {role} dataset pipeline must end in '
                'PackInputs (a sample is a dict with inputs/data_samples).')
        if 'gt_label' not in sample['data_samples']:
            raise ValueError(
                f'KNNEvalHook: the {role} dataset gives no labels (gt_label); '
                'k-NN needs a labelled dataset, e.g. with_label=True or a '
                'CustomDataset over class sub-folders.')
        return dataset

    def before_run(self, runner) -> None:
        """Build and check both datasets, before the first iteration."""
        model = self._model(runner)
        if not hasattr(model, 'backbone'):
            raise ValueError(
                f'KNNEvalHook: the model ({type(model).__name__}) has no '
                '`backbone` attribute to evaluate.')
        datasets = dict(
            bank=self._subset('bank', self.bank_cfg),
            query=self._subset('query', self.query_cfg))
        if self.k > len(datasets['bank']):
            raise ValueError(
                f'KNNEvalHook: k={self.k} but the memory bank holds only '
                f"{len(datasets['bank'])} samples; lower k or enlarge the "
                'bank (bank_size / bank_dataset).')
        meta = getattr(datasets['bank'], 'metainfo', None) or getattr(
            getattr(datasets['bank'], 'dataset', None), 'metainfo', {})
        classes = (meta or {}).get('classes')
        self._num_classes = len(classes) if classes else None
        for role, dataset in datasets.items():
            self._loaders[role] = DataLoader(
                dataset,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                sampler=DefaultSampler(dataset, shuffle=False),
                collate_fn=default_collate)

    # ------------------------------------------------------------ triggers
    def before_train(self, runner) -> None:
        if self.eval_before_train and runner.iter == 0:
            self._evaluate(runner, epoch=0, done_iters=0)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.interval and self.every_n_epochs(
                runner, self.interval):
            self._evaluate(
                runner, epoch=runner.epoch + 1, done_iters=runner.iter)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if not self.by_epoch and self.interval and self.every_n_train_iters(
                runner, self.interval):
            self._evaluate(
                runner, epoch=runner.epoch, done_iters=runner.iter + 1)

    def after_train(self, runner) -> None:
        if self.at_end and self._last_eval_iter != runner.iter:
            self._evaluate(runner, epoch=runner.epoch, done_iters=runner.iter)

    # ------------------------------------------------------------ work
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @torch.no_grad()
    def _embed(self, model, role: str):
        """Features ``(N, C)`` (L2-normalised, CPU) and labels ``(N, )`` of
        one dataset, gathered on rank 0 (None elsewhere)."""
        loader = self._loaders[role]
        samples = []
        for data in loader:
            data = model.data_preprocessor(data, training=False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # SelfSup preprocessors
                inputs = inputs[0]
            feats = F.normalize(pool_features(model.backbone(inputs)), dim=1)
            for feat, ds in zip(feats.float().cpu(), data['data_samples']):
                label = ds.get('gt_label')
                if label is None or label.numel() != 1:
                    raise ValueError(
                        f'KNNEvalHook: a {role} sample has no single '
                        f'gt_label ({label!r}); k-NN needs one class per '
                        'image.')
                samples.append((feat, int(label)))
        samples = collect_results(samples, len(loader.dataset),
                                  self.collect_device)
        if samples is None:
            return None
        return (torch.stack([s[0] for s in samples]),
                torch.tensor([s[1] for s in samples], dtype=torch.int64))

    def extract_features(self, runner) -> Optional[dict]:
        """Embed the bank and the queries with the current backbone.

        The backbone runs in eval mode under ``torch.no_grad``; its previous
        mode is restored afterwards (also on error). Call after
        ``before_run``.

        Returns:
            dict | None: On rank 0 ``{'bank': (feats, labels), 'query':
            (feats, labels)}`` with L2-normalised float32 CPU features
            ``(N, C)`` and int64 labels ``(N, )`` in dataset order; None on
            other ranks.
        """
        model = self._model(runner)
        backbone = model.backbone
        was_training = backbone.training
        stash = self._use_rank0_buffers(backbone)
        backbone.eval()
        try:
            out = {role: self._embed(model, role) for role in self._loaders}
        finally:
            backbone.train(was_training)
            for buf, saved in stash:
                buf.copy_(saved)
        return out if get_rank() == 0 else None

    @staticmethod
    @torch.no_grad()
    def _use_rank0_buffers(backbone) -> list:
        """Give every rank rank 0's buffers for the evaluation.

        Under DDP each rank's BatchNorm running statistics follow its own
        batches since the last broadcast, so the ranks would embed their
        shares with slightly different models. With rank 0's buffers all
        ranks evaluate the model that rank 0 checkpoints. Returns
        ``(buffer, own copy)`` pairs to restore afterwards, so training is
        untouched (empty when not distributed).
        """
        if get_world_size() == 1:
            return []
        stash = [(buf, buf.clone()) for buf in backbone.buffers()]
        for buf, _ in stash:
            broadcast(buf, src=0)
        return stash

    def _evaluate(self, runner, epoch: int, done_iters: int) -> None:
        start = time.perf_counter()
        feats = self.extract_features(runner)
        top1 = None
        if feats is not None:
            (bank, bank_labels), (query, query_labels) = (feats['bank'],
                                                          feats['query'])
            # the similarities on the model's device (GPU when training on
            # one): N x M products are the only heavy part
            device = next(self._model(runner).backbone.parameters()).device
            top1 = knn_top1(
                bank.to(device),
                bank_labels,
                query,
                query_labels,
                k=self.k,
                temperature=self.temperature,
                num_classes=self._num_classes)
        top1 = self._broadcast(top1)
        seconds = time.perf_counter() - start
        self._last_eval_iter = done_iters
        record = dict(
            epoch=epoch,
            iter=done_iters,
            top1=top1,
            bank_size=len(self._loaders['bank'].dataset),
            num_queries=len(self._loaders['query'].dataset),
            seconds=seconds)
        self.results.append(record)
        key = f'{self.prefix}/top1'
        runner.message_hub.update_scalar(key, top1)
        runner.visualizer.add_scalars(
            {key: top1}, step=epoch if self.by_epoch else done_iters)
        runner.logger.info(
            f'k-NN (k={self.k}, T={self.temperature}) top-1: {top1:.2f} % '
            f"(bank {record['bank_size']}, queries {record['num_queries']}, "
            f'epoch {epoch}, iter {done_iters}, {seconds:.1f} s)')

    @staticmethod
    def _broadcast(value):
        box = [value]
        broadcast_object_list(box)
        return box[0]
