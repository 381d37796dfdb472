"""mixssl_mm.preflight.flags: a command-line flag whose config part is
missing is refused before mmpretrain's merge_args, naming what to add (the
reported case: --auto-scale-lr on a config without auto_scale_lr gave
AttributeError: 'ConfigDict' object has no attribute 'auto_scale_lr')."""
import re

import pytest
from mmengine.config import Config

from mixssl_mm.preflight import ConfigError
from tests._helpers.training import CLASSIFIER_EVAL, classifier_config


def test_auto_scale_lr_without_its_config_part(tmp_path, image_folders,
                                               train_in_process):
    cfg = train_in_process.config(image_folders)  # lr 1e-4, batch 4
    assert 'auto_scale_lr' not in Config.fromfile(cfg)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--auto-scale-lr')
    msg = str(info.value)
    assert 'has no auto_scale_lr' in msg
    assert 'auto_scale_lr = dict(base_batch_size=N)' in msg
    assert not work.exists()
    # the command-line form it names works: batch 4 of a base of 8 halves
    # the learning rate
    runner = train_in_process(cfg, work, '--cfg-options',
                              'auto_scale_lr.base_batch_size=8',
                              'auto_scale_lr.enable=True')
    assert runner.optim_wrapper.param_groups[0]['lr'] == pytest.approx(5e-5)
    # enabled without a base batch size: the key to add
    with pytest.raises(
            ConfigError,
            match='has no base_batch_size: add '
            'auto_scale_lr.base_batch_size=N'):
        train_in_process(cfg, tmp_path / 'work2', '--cfg-options',
                         'auto_scale_lr.enable=True')


def test_amp_with_a_wrapper_it_cannot_take(tmp_path, image_folders,
                                           train_in_process):
    work = tmp_path / 'work'
    cfg = train_in_process.config(image_folders)
    apex = train_in_process.write(
        open(cfg).read().replace("type='OptimWrapper'",
                                 "type='ApexOptimWrapper'"))
    with pytest.raises(
            ConfigError,
            match="would replace optim_wrapper.type="
            "'ApexOptimWrapper'"):
        train_in_process(apex, work, '--amp')
    bare = train_in_process.write('\n'.join(
        line for line in open(cfg).read().splitlines()
        if not line.startswith('optim_wrapper')))
    with pytest.raises(ConfigError, match='has no optim_wrapper; add one'):
        train_in_process(bare, work, '--amp')
    assert not work.exists()


@pytest.mark.parametrize('launcher', ['pytorch', 'slurm'])
def test_launcher_without_its_environment(tmp_path, image_folders,
                                          train_in_process, launcher):
    cfg = train_in_process.config(image_folders)
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, tmp_path / 'work', '--launcher', launcher)
    msg = str(info.value)
    assert f'--launcher {launcher} needs the environment variables' in msg
    assert ('tools/dist_train.sh CONFIG NUM_PROCESSES' in msg
            if launcher == 'pytorch' else 'srun' in msg)
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize(
    'flags, config_extra, message',
    [
        (['--amp'], '', 'no test_cfg; add test_cfg = dict()'),
        (['--tta'], '', '--tta tests test_dataloader.dataset'),
        (['--show-dir', 'shown'], CLASSIFIER_EVAL + 'default_hooks = None',
         'add default_hooks = dict(visualization='),
        (['--out-item', 'metrics'
          ], CLASSIFIER_EVAL, 'give --out FILE as well'),
        (['--launcher', 'pytorch'], CLASSIFIER_EVAL,
         'tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES'),
        # a folder or a suffix the writer does not take failed after the
        # whole test pass ("TypeError: Unsupported format")
        (['--out', '.', '--out-item', 'metrics'], CLASSIFIER_EVAL,
         '--out . is a folder; give a file in it, e.g. --out '
         './metrics.json'),
        (['--out', 'scores.txt', '--out-item', 'metrics'], CLASSIFIER_EVAL,
         'written as .json / .yaml / .yml / .pkl / .pickle only'),
        (['--out', 'preds.json'], CLASSIFIER_EVAL,
         'the pred (--out-item pred) are written as .pkl / .pickle only, '
         'chosen by the suffix; name the file preds.pkl'),
        # mmengine matches the suffix as written: .JSON failed after the test
        (['--out', 'm.JSON', '--out-item', 'metrics'
          ], CLASSIFIER_EVAL, 'name the file m.json'),
        (['--out', 'new/', '--out-item', 'metrics'], CLASSIFIER_EVAL,
         '--out new/ is a folder; give a file in it, e.g. --out '
         'new/metrics.json'),
    ],
    ids=[
        'amp', 'tta', 'show-dir', 'out-item', 'launcher', 'out-folder',
        'out-suffix', 'out-pred-suffix', 'out-suffix-case', 'out-new-folder'
    ])
def test_test_flags_without_their_config_part(tmp_path, image_folders,
                                              train_in_process, flags,
                                              config_extra, message):
    ckpt = tmp_path / 'ft.pth'
    ckpt.write_bytes(b'')  # never read: refused before
    cfg = train_in_process.write(
        classifier_config(image_folders[0], ckpt, extra=config_extra))
    with pytest.raises(ConfigError, match=re.escape(message)):
        train_in_process.test(cfg, ckpt, tmp_path / 'work', *flags)
    assert not (tmp_path / 'work').exists()
