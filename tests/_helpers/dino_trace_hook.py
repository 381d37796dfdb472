"""Test-only hook: every rank saves DINO's last-layer weight before training
and after every iteration, so a test can see when the layer moved
(imported through custom_imports)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class LastLayerTraceHook(Hook):

    priority = 'LOWEST'

    def _weight(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return model.neck.last_layer.weight.detach().cpu().clone()

    def before_train(self, runner):
        self.trace = [self._weight(runner)]

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.trace.append(self._weight(runner))

    def after_train(self, runner):
        torch.save(
            self.trace,
            osp.join(runner.work_dir, f'last_layer_rank{get_rank()}.pth'))
