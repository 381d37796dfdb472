# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Re-estimate a frozen encoder's BatchNorm statistics on the training data
before training (precise BN)."""
from typing import Optional, Union

import torch
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, Dataset

from mmpretrain.registry import DATASETS, HOOKS


@HOOKS.register_module()
class BNRecalibrationHook(Hook):
    """Replace the running statistics of every BatchNorm layer of
    ``model.<module>`` (the backbone) by their average over the training
    data, once, before the first iteration.

    Why: a linear probe (``frozen_stages=4, norm_eval=True``) and a k-NN
    evaluation use the encoder in eval mode, with the running means and
    variances its pretraining left. A MixSSL (or Mixup, MixCo) encoder
    gathered them on mixed images, whose statistics differ from those of the
    clean target images the probe sees. This hook re-estimates them on the
    probe's own training images, the same way for every method, so the
    comparison does not depend on what the pretraining fed its BatchNorms.

    How (precise BN, Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm",
    Sec. 3; mmpretrain's ``PreciseBNHook`` does the same after each epoch of
    a model trained with BN in train mode, which a frozen probe never is):
    the module runs in eval mode except its BatchNorm layers, whose running
    statistics are reset and accumulated with ``momentum=None`` (the plain
    average of the per-batch mean and unbiased variance) over
    ``num_samples`` images of ``dataset`` (default: the training
    dataloader), under ``torch.no_grad``; images pass
    ``model.data_preprocessor`` (training=False: no batch augments). Give
    ``dataset`` the training images with the *test* pipeline (what the
    benchmark does) to estimate the statistics of the images the model is
    evaluated on, not of random crops. Then
    every layer's mode and momentum are restored, and under distributed
    training the statistics are averaged over the ranks. Weights are not
    touched; ``num_batches_tracked`` counts the batches seen.

    Skipped when resuming (the checkpoint holds the re-estimated values).

    Args:
        num_samples (int, optional): Images to average over (whole batches,
            at least one). Defaults to None: one pass.
        module (str): The model attribute whose BatchNorms are re-estimated.
            Defaults to ``'backbone'``.
        dataset (dict | Dataset, optional): The images (an mmpretrain dataset
            config or object whose pipeline ends in ``PackInputs`` with
            fixed-size images), read in order, sharded over ranks by
            mmengine's ``DefaultSampler``. Defaults to None: the training
            dataloader.
        batch_size (int, optional): Batch size with ``dataset``. Defaults
            to None: the training dataloader's.
        num_workers (int): Data-loading workers with ``dataset``.
            Defaults to 0.

    Raises:
        ValueError: ``num_samples`` < 1, or (``before_train``) a model
            without ``module``.
    """
    # before KNNEvalHook (NORMAL), so a k-NN run evaluates the new statistics
    priority = 'ABOVE_NORMAL'

    def __init__(self, num_samples: Optional[int] = None,
                 module: str = 'backbone',
                 dataset: Optional[Union[dict, Dataset]] = None,
                 batch_size: Optional[int] = None,
                 num_workers: int = 0) -> None:
        for name, value in (('num_samples', num_samples),
                            ('batch_size', batch_size)):
            if value is not None and (not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f'BNRecalibrationHook: {name} must be None '
                                 f'or >= 1, got {value!r}.')
        self.num_samples, self.module = num_samples, module
        self.dataset, self.batch_size = dataset, batch_size
        self.num_workers = num_workers
        self.images_seen = 0

    def before_train(self, runner) -> None:
        if runner.iter != 0:  # resumed: the statistics are in the checkpoint
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        net = getattr(model, self.module, None)
        if net is None:
            raise ValueError(
                f'BNRecalibrationHook: the model ({type(model).__name__}) has '
                f'no `{self.module}` to recalibrate.')
        bns = [m for m in net.modules() if isinstance(m, _BatchNorm)]
        if not bns:
            runner.logger.warning(
                f'BNRecalibrationHook: {self.module} has no BatchNorm layer; '
                'nothing to recalibrate.')
            return
        modes = [(m, m.training) for m in net.modules()]
        momenta = [bn.momentum for bn in bns]
        net.eval()
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches
            bn.train()
        try:
            self.images_seen = self._run(model, net, self._loader(runner))
        finally:
            for m, training in modes:
                m.training = training
            for bn, momentum in zip(bns, momenta):
                bn.momentum = momentum
        if get_world_size() > 1:
            for bn in bns:
                all_reduce(bn.running_mean, op='mean')
                all_reduce(bn.running_var, op='mean')
        runner.logger.info(
            f'BNRecalibrationHook: {len(bns)} BatchNorm layers of '
            f'{self.module} re-estimated on {self.images_seen} '
            f'{"" if self.dataset is None else "clean "}training images '
            '(per rank).')

    def _loader(self, runner):
        """The training dataloader, or one over ``dataset`` in order."""
        if self.dataset is None:
            return runner.train_dataloader
        dataset = DATASETS.build(self.dataset) if isinstance(
            self.dataset, dict) else self.dataset
        return DataLoader(
            dataset, batch_size=self.batch_size
            or runner.train_dataloader.batch_size,
            num_workers=self.num_workers,
            sampler=DefaultSampler(dataset, shuffle=False),
            collate_fn=default_collate)

    @torch.no_grad()
    def _run(self, model, net, loader) -> int:
        seen = 0
        for data in loader:
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # SelfSup preprocessors
                inputs = inputs[0]
            net(inputs)
            seen += inputs.shape[0]
            if self.num_samples is not None and seen >= self.num_samples:
                break
        if not seen:
            raise ValueError('BNRecalibrationHook: the dataloader gave no '
                             'image.')
        return seen
