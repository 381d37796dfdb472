"""Test-only components for the reliability tests (imported through
``custom_imports``; they observe or feed a real run, they replace nothing).

- ``RecordRunHook``: every rank writes, per epoch, the target images it
  trained on and the λ of every step, to ``<work_dir>/record_rank{r}.json``.
- ``SlowSaveHook``: when ``MIXSSL_TEST_SLOW_SAVE_AT`` names an iteration,
  the checkpoint of that iteration gets 100k extra small tensors, so that
  writing it takes seconds and a test can SIGKILL the run mid-write.
- ``PoisonSample``: turns the image of one file into NaNs (a corrupt data
  source), to drive a real non-finite loss.
"""
import json
import os
import os.path as osp

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS, TRANSFORMS


@HOOKS.register_module()
class RecordRunHook(Hook):

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.lams, self.seen = [], {}
        # every λ the model draws (MixSSL.lam_sampler)
        model.lam_sampler.register_forward_hook(
            lambda module, args, lam: self.lams.append(lam.tolist()))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        paths = [s.img_path for s in data_batch['data_samples']]
        self.seen.setdefault(str(runner.epoch), []).extend(paths)

    def after_train(self, runner):
        with open(
                osp.join(runner.work_dir, f'record_rank{get_rank()}.json'),
                'w') as f:
            json.dump(dict(lams=self.lams, seen=self.seen), f)


@HOOKS.register_module()
class SlowSaveHook(Hook):

    def before_save_checkpoint(self, runner, checkpoint):
        at = os.environ.get('MIXSSL_TEST_SLOW_SAVE_AT')
        if at and int(at) == checkpoint['meta']['iter']:
            checkpoint['ballast'] = [torch.zeros(4) for _ in range(100_000)]


@TRANSFORMS.register_module()
class PoisonSample(BaseTransform):

    def __init__(self, name: str):
        self.name = name

    def transform(self, results):
        img = results['img'].astype(np.float32)
        if osp.basename(results['img_path']).startswith(self.name):
            img[:] = np.nan
        results['img'] = img
        return results
