"""Test-only hook: every rank saves its final parameters, so a test can
compare ranks of a distributed run (imported through custom_imports).
Also saved, to ``buffers_rank{r}.pth``: the buffers (BatchNorm running
statistics) and the class of every normalisation layer, so a test can see
which BatchNorm implementation (e.g. a converted SyncBN) trained."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RankParamsDumpHook(Hook):

    def after_train(self, runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        params = {k: v.detach().cpu() for k, v in model.named_parameters()}
        torch.save(params,
                   osp.join(runner.work_dir, f'params_rank{get_rank()}.pth'))
        buffers = {k: v.detach().cpu() for k, v in model.named_buffers()}
        norms = {
            name: type(m).__name__
            for name, m in model.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._NormBase)
        }
        torch.save(
            dict(buffers=buffers, norm_types=norms),
            osp.join(runner.work_dir, f'buffers_rank{get_rank()}.pth'))
