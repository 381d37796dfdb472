"""Config names say the batch the way mmpretrain's do: ``NxbM`` is N GPUs
(processes) x M samples per GPU, so ``train_dataloader.batch_size`` is M
and the total batch the recipe was tuned for, N x M, is the config's
``auto_scale_lr.base_batch_size`` (what ``--auto-scale-lr`` scales the lr
from when the total batch differs; docs/distributed.md). The flag itself
runs on every config in test_launch_matrix.py."""
import os.path as osp
import re

import pytest

from tests._helpers.dist_launch import parsed_config, shipped_configs

BATCH_IN_NAME = re.compile(r'_(\d+)xb(\d+)[-_]')


@pytest.mark.parametrize('config', shipped_configs())
def test_name_gives_per_gpu_and_total_batch(config):
    found = BATCH_IN_NAME.search(osp.basename(config))
    assert found, f'{config}: no NxbM (GPUs x batch per GPU) in the name'
    gpus, per_gpu = map(int, found.groups())
    cfg = parsed_config(config)
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu
