"""mixssl_mm.benchmark.planning: the stages, their commands and the
cfg-options they get (checked against the real configs)."""
import argparse
import os
import sys

import pytest
from mmengine.config import DictAction

from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.methods import METHODS
from mixssl_mm.benchmark.planning import Plan, load_config, to_cfg_options
from tests._helpers.image_folders import write_npz


def _plan(*argv):
    return Plan(parse_benchmark_args(list(argv)))


def test_cfg_option_values_round_trip_through_mmengine():
    opts = {
        'a': None,
        'b': [1, 4, 5, 6],
        'c': (32, 32),
        'd': 1e-3,
        'e': 'x/y.pth',
        'f': False
    }
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    assert parser.parse_args(['--o'] + to_cfg_options(opts)).o == opts


def test_plan_of_the_preset(repo_cwd, tmp_path):
    plan = _plan('--preset', 'cpu-small', '--seeds', '0', '--work-dir',
                 str(tmp_path))
    assert plan.methods == ['mixssl', 'simclr', 'mocov2', 'byol', 'rand']
    assert plan.chains() == [(m, 0) for m in plan.methods]
    # 4 pretrained methods x (pretrain + 2 x (train + test) + k-NN) + Rand x 5
    assert plan.size() == 29
    # the preset's 3 seeds
    assert _plan('--protocols', 'finetune', 'linear').size() == 3 * 24
    assert (plan.jobs, plan.threads, plan.channels) == (2, 1, 512)
    assert plan.stage_dir('rand', 0, 'linear_test') == str(
        tmp_path / 'rand' / 'seed0' / 'linear_test')
    # no --threads and no preset threads: the cores shared by the jobs
    tiny = _plan('--preset', 'tiny', '--jobs', '2')
    assert tiny.threads == max(1, (os.cpu_count() or 1) // 2)
    assert _plan('--preset', 'tiny').threads is None
    assert tiny.work_dir == str(repo_cwd / 'work_dirs' / 'benchmark' / 'tiny')
    ablations = _plan('--methods', 'rand', 'mixssl', '--ablations')
    assert ablations.methods == [
        'rand', 'mixssl', 'mixssl_t', 'mixssl_r', 'mixssl_rc', 'mixssl_ra'
    ]


def test_pretraining_options(repo_cwd):
    plan = _plan('--preset', 'tiny', '--classes', '8', '--data-root',
                 str(repo_cwd / 'data' / 'medmnist'))
    o = plan.pretrain_options('mixssl', 3)
    assert o['randomness.seed'] == 3 and o['model.backbone.depth'] == 18
    assert o['model.neck.in_channels'] == o['model.head.in_channels'] == 512
    assert o['train_dataloader.dataset.indices'] == 128
    assert o['optim_wrapper.optimizer.lr'] == 1e-3
    assert o['train_dataloader.dataset.data_root'] == str(repo_cwd / 'data' /
                                                          'medmnist')
    assert 'train_dataloader.dataset.classes_subset' not in o  # 8 classes
    # every crop of both pipelines (target and auxiliary) at 32 px
    scales = {k: v for k, v in o.items() if k.endswith('.scale')}
    assert len(scales) == 2 and set(scales.values()) == {32}
    assert plan.pretrain_options('mocov2', 0)['model.queue_len'] == 128
    assert 'train_dataloader.dataset.classes_subset' not in _plan(
        '--preset', 'tiny').pretrain_options('byol', 0)  # 8 by default
    four = _plan('--preset', 'tiny', '--classes',
                 '4').pretrain_options('byol', 0)
    assert four['train_dataloader.dataset.classes_subset'] == [1, 4, 5, 6]


def test_linear_probe_normalises_features_and_gets_channels(repo_cwd):
    plan = _plan('--preset', 'cpu-small', '--methods', 'rand')
    opts = plan.downstream_train_options('linear', 0, None)
    assert opts['model.neck.1.input_features'] == 512
    assert opts['model.head.in_channels'] == 512
    # Rand: its random start (a pretraining stage's init, recipe.py)
    assert opts['model.backbone.init_cfg.checkpoint'] == \
        plan.random_start(0)
    assert 'model.backbone.init_cfg' not in opts
    assert opts['val_dataloader'] is None
    assert not any(k.startswith('val_dataloader.') for k in opts)
    cfg = load_config(plan.downstream['linear'])
    assert [n['type'] for n in cfg.model.neck
            ] == ['GlobalAveragePooling', 'ClsBatchNormNeck']
    ft = plan.downstream_train_options('finetune', 0, '/w/ckpt.pth')
    assert 'model.neck.1.input_features' not in ft
    assert ft['model.backbone.init_cfg.checkpoint'] == '/w/ckpt.pth'


def test_other_files_and_class_subsets(repo_cwd, tmp_path):
    npz = write_npz(
        tmp_path / 'x.npz',
        dict(train=[0, 1, 2, 3, 4] * 12, val=[0, 1], test=[0, 1, 2, 3, 4] * 2))
    plan = _plan('--classes-subset', '0', '2', '--ann-file', npz)
    assert (plan.subset, plan.num_classes) == ([0, 2], 2)
    assert plan.downstream['linear'].endswith('_bloodmnist_linear-probe.py')
    t = plan.test_options('linear', 1)
    assert t['model.head.num_classes'] == t[
        'data_preprocessor.num_classes'] == 2
    assert t['test_dataloader.dataset.classes_subset'] == [0, 2]
    assert t['test_dataloader.dataset.ann_file'] == npz
    assert t['test_dataloader.dataset.pipeline.0.scale'] == (64, 64)
    assert not any(k.startswith('train_dataloader') for k in t)
    # the whole file: its 5 classes, not BloodMNIST's 4-class task
    whole = _plan('--ann-file', npz)
    assert (whole.subset, whole.num_classes) == (None, 5)
    assert whole.downstream['finetune'].endswith('bloodmnist_finetune.py')
    t = whole.test_options('finetune', 0)
    assert t['model.head.num_classes'] == 5
    assert t['test_dataloader.dataset.classes_subset'] is None


def test_commands_run_the_package_modules(repo_cwd, tmp_path):
    cmd = Plan.train_command('c.py', str(tmp_path), {'a': 1}, ['b=2'])
    assert cmd == [
        sys.executable, '-m', 'mixssl_mm.apis.train', 'c.py', '--work-dir',
        str(tmp_path), '--cfg-options', 'a=1', 'b=2'
    ]
    (tmp_path / 'last_checkpoint').write_text('epoch_1.pth')
    assert '--resume' in Plan.train_command('c.py', str(tmp_path), {}, [])
    test = Plan.test_command('c.py', 'k.pth', 'd', 'd/m.json', {}, [])
    assert test[1:6] == [
        '-m', 'mixssl_mm.apis.test', 'c.py', 'k.pth', '--work-dir'
    ]
    assert test[-5:] == [
        '--out', 'd/m.json', '--out-item', 'metrics', '--cfg-options'
    ]


def test_imagenet_self_needs_a_converted_checkpoint(repo_cwd, tmp_path):
    with pytest.raises(SystemExit, match='--imagenet-ckpt'):
        _plan('--methods', 'imagenet-self')
    with pytest.raises(SystemExit, match='^--imagenet-ckpt .*no such file'):
        _plan('--methods', 'imagenet-self', '--imagenet-ckpt',
              str(tmp_path / 'missing.pth'))
    # the shared start given with --init-ckpt: the message names that flag
    with pytest.raises(SystemExit, match='^--init-ckpt .*no such file'):
        _plan('--methods', 'imagenet-self', '--init-ckpt',
              str(tmp_path / 'missing.pth'))


def test_bad_jobs_and_missing_configs_are_refused(repo_cwd, monkeypatch):
    with pytest.raises(SystemExit, match='--jobs must be >= 1, got 0'):
        _plan('--methods', 'rand', '--jobs', '0')
    # numpy takes no negative seed; a repeated one would run a chain twice
    # in the same folders
    for seeds in (['-1'], ['0', '0'], [str(2**32)]):
        with pytest.raises(SystemExit, match='--seeds .*: give distinct'):
            _plan('--methods', 'rand', '--seeds', *seeds)
    for threads in ('0', '-1'):
        with pytest.raises(SystemExit, match='--threads must be >= 1'):
            _plan('--methods', 'rand', '--threads', threads)
    entry = dict(METHODS['mixssl'], config='configs/nowhere.py')
    monkeypatch.setitem(METHODS, 'mixssl', entry)
    with pytest.raises(SystemExit, match='configs/nowhere.py is missing'):
        _plan('--methods', 'mixssl')


def test_configs_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match='run from the repository root'):
        _plan('--methods', 'mixssl')


def test_knn_needs_a_bank_of_k_images(repo_cwd, tmp_path):
    small = write_npz(tmp_path / 'small.npz',
                      dict(train=[0, 1] * 9, test=[0, 1]))
    with pytest.raises(SystemExit, match='18 train images to search'):
        _plan('--ann-file', small)
    assert _plan('--ann-file', small, '--protocols',
                 'linear').protocols == ['linear']


def test_every_mixing_method_needs_a_stride_32_size(repo_cwd, monkeypatch):
    """MixSSL, its objectives and its design variants decode a ResNet map
    back to the input: a size that is not a multiple of 32 is refused
    before any stage; methods that do not mix are not held to it."""
    from mixssl_mm.benchmark.presets import PRESETS
    monkeypatch.setitem(PRESETS['tiny'], 'img_size', 48)
    for method in ('mixssl', 'mixssl-t', 'mixssl-lambatch', 'mixssl-coslr'):
        with pytest.raises(SystemExit, match='not a multiple of 32'):
            _plan('--preset', 'tiny', '--methods', method)
    _plan('--preset', 'tiny', '--methods', 'simclr', 'rand')


def test_a_work_dir_that_is_a_file_is_refused(repo_cwd, tmp_path):
    # a dry run passed and the run failed with a raw FileExistsError
    (tmp_path / 'file').write_text('x')
    for where in ('file', 'file/sub'):
        with pytest.raises(SystemExit, match=f'{tmp_path}/file is a file'):
            _plan('--methods', 'rand', '--work-dir', str(tmp_path / where))


def test_each_stage_names_its_inputs(repo_cwd, tmp_path):
    """Command, inputs, outputs: a stage reads its config and, where it
    starts from a file, that checkpoint (Rand's random start); the
    checkpoint of the stage it needs is its placeholder."""
    plan = _plan('--preset', 'tiny', '--methods', 'mixssl', 'rand',
                 '--work-dir', str(tmp_path / 'w'))
    for chain in plan.chains():
        for stage in plan.stages(*chain):
            assert stage.inputs[0] == stage.cmd[3]
            assert not any(i.startswith('<') for i in stage.inputs)
    pretrain, finetune = plan.stages('mixssl', 0)[:2]
    assert pretrain.inputs == [pretrain.cmd[3]]
    assert finetune.needs == 'pretrain' and len(finetune.inputs) == 1
    rand = plan.stages('rand', 0)[0]
    assert rand.inputs == [rand.cmd[3], plan.random_start(0)]
    # a checkpoint URL is no file the runner can look for
    from mixssl_mm.benchmark.planning import command_inputs
    cmd = rand.cmd[:4] + [
        'model.backbone.init_cfg.checkpoint=torchvision://resnet18'
    ]
    assert command_inputs(cmd) == [rand.cmd[3]]
