# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Re-estimate a frozen encoder's BatchNorm statistics on the training data
before training (precise BN), with ``torch.optim.swa_utils.update_bn``."""
from typing import Iterator, Optional, Union

import torch
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Dataset


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
    Sec. 3): ``torch.optim.swa_utils.update_bn`` resets the running
    statistics of the module's BatchNorm layers and accumulates them with
    ``momentum=None`` (the plain average of the per-batch mean and unbiased
    variance) over
    ``num_samples`` images of ``dataset`` (default: the training
    dataloader), under ``torch.no_grad``; images pass
    ``model.data_preprocessor`` (training=False: no batch augments). Give
    ``dataset`` the training images with the *test* pipeline (what the
    benchmark does) to estimate the statistics of the images the model is
    evaluated on, not of random crops. The module runs in eval mode except
    its BatchNorm layers (``update_bn`` alone would call ``module.train()``,
    which mmpretrain's ResNet with ``norm_eval=True`` answers by putting
    every BatchNorm in eval mode, so nothing would be re-estimated). Then
    every layer's mode and momentum are restored, and under distributed
    training the statistics are averaged over the ranks. Weights are not
    touched; ``num_batches_tracked`` counts the batches seen.

    mmpretrain's ``PreciseBNHook`` does not fit: it runs after training
    epochs/iterations on BatchNorms in train mode, which a frozen probe
    never has, and forwards the whole model.

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

    def __init__(self,
                 num_samples: Optional[int] = None,
                 module: str = 'backbone',
                 dataset: Optional[Union[dict, Dataset]] = None,
                 batch_size: Optional[int] = None,
                 num_workers: int = 0) -> None:
        for name, value in (('num_samples', num_samples), ('batch_size',
                                                           batch_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
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
        self.images_seen = 0
        try:
            update_bn(
                self._inputs(model, self._loader(runner)),
                _BatchNormsInTrainMode(net))
        finally:
            for m, training in modes:
                m.training = training
        if not self.images_seen:
            raise ValueError('BNRecalibrationHook: the dataloader gave no '
                             'image.')
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
            dataset,
            batch_size=self.batch_size or runner.train_dataloader.batch_size,
            num_workers=self.num_workers,
            sampler=DefaultSampler(dataset, shuffle=False),
            collate_fn=default_collate)

    def _inputs(self, model, loader) -> Iterator[torch.Tensor]:
        """The preprocessed image batches, ``num_samples`` images (whole
        batches) or one pass, counted in ``images_seen``."""
        for data in loader:
            inputs = model.data_preprocessor(data, False)['inputs']
            if isinstance(inputs, (list, tuple)):  # SelfSup preprocessors
                inputs = inputs[0]
            yield inputs
            self.images_seen += inputs.shape[0]
            if (self.num_samples is not None
                    and self.images_seen >= self.num_samples):
                return


class _BatchNormsInTrainMode(nn.Module):
    """What ``update_bn`` is given: ``net`` whose ``train()`` keeps every
    layer but the BatchNorms in eval mode (dropout, frozen stages), so
    ``update_bn``'s ``model.train()`` neither updates nor randomises
    anything else."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def train(self, mode: bool = True) -> '_BatchNormsInTrainMode':
        self.training = mode
        self.net.eval()
        for m in self.net.modules():
            if isinstance(m, _BatchNorm):
                m.train(mode)
        return self

    def forward(self, inputs: torch.Tensor):
        return self.net(inputs)
