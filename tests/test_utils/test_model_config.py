"""runner_model_cfg builds the model the Runner builds: mmpretrain's configs
keep the data preprocessor at the top level, and a model built from
``cfg.model`` alone would not normalise its inputs."""
import copy

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from mixssl_mm.utils import runner_model_cfg
from tests._helpers.models import MIXSSL_R18
from tests._helpers.run_names import run_name

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_the_top_level_preprocessor_is_merged_as_the_runner_does(tmp_path):
    cfg = Config(
        dict(
            model=dict(MIXSSL_R18),
            data_preprocessor=dict(
                type='SelfSupDataPreprocessor',
                mean=MEAN,
                std=STD,
                to_rgb=True),
            work_dir=str(tmp_path),
            default_scope='mmpretrain',
            log_level='WARNING'))
    init_default_scope('mmpretrain')
    bare = MODELS.build(cfg.model).data_preprocessor
    ours = MODELS.build(runner_model_cfg(cfg)).data_preprocessor
    assert 'data_preprocessor' not in cfg.model  # not changed in place
    runner_pre = Runner(
        model=copy.deepcopy(cfg.model),
        work_dir=str(tmp_path),
        experiment_name=run_name('model_config'),
        data_preprocessor=cfg.data_preprocessor,
        default_scope='mmpretrain',
        log_level='WARNING').model.data_preprocessor
    assert ours._enable_normalize and runner_pre._enable_normalize
    torch.testing.assert_close(ours.mean, runner_pre.mean)
    torch.testing.assert_close(ours.std, runner_pre.std)
    assert not getattr(bare, '_enable_normalize', False)
    # a model dict with its own preprocessor keeps it; the config is unchanged
    own = dict(
        MIXSSL_R18, data_preprocessor=dict(type='SelfSupDataPreprocessor'))
    cfg2 = Config(dict(model=own, data_preprocessor=cfg.data_preprocessor))
    assert 'mean' not in runner_model_cfg(cfg2)['data_preprocessor']
