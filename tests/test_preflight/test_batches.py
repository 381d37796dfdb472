"""mixssl_mm.preflight.batches (issue 22, kinds 1 and 2): a last training
batch of one sample in a model with BatchNorm is resolved with drop_last
(said on the console) or refused; an epoch without a batch is refused
before the Runner; a checkpoint saved at iteration 0 is refused where it
would be loaded as trained weights."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.batches import check_train_batches
from tests._helpers.dist_launch import write_backbone_checkpoint
from tests._helpers.training import classifier_config, iters_of
from tests.conftest import write_image_folder


def _aux(tmp_path):
    return write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)


def test_last_batch_of_one_with_batchnorm_is_resolved_with_drop_last(
        tmp_path, train_in_process, capsys):
    # the reported case (mmpretrain#1421): 5 images at batch 4; the first
    # iteration trained, then the last batch (1 image) died in BatchNorm
    target = write_image_folder(tmp_path / 'target', 5, seed=1)
    cfg = train_in_process.config((target, _aux(tmp_path)),
                                  batch_size=4,
                                  epochs=2)
    work = tmp_path / 'work'
    train_in_process(cfg, work)
    err = capsys.readouterr().err
    assert ('5 training samples at batch_size=4 leave a last batch of one '
            'sample in every epoch') in err
    assert 'set drop_last=True: each epoch leaves out 1 sample(s)' in err
    assert iters_of(work) == 2  # one full batch in each of the 2 epochs


def test_a_single_sample_with_batchnorm_is_refused(tmp_path, train_in_process):
    target = write_image_folder(tmp_path / 'target', 1, seed=1)
    cfg = train_in_process.config((target, _aux(tmp_path)), batch_size=4)
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError, match='dropping it would leave no batch') as info:
        train_in_process(cfg, work)
    assert 'batch_size >= 2' in str(info.value)
    assert not work.exists()


def test_fewer_samples_than_a_batch_with_drop_last_is_refused(
        tmp_path, train_in_process):
    # the reported case: no training line, epoch checkpoints, rc 0
    target = write_image_folder(tmp_path / 'target', 3, seed=1)
    cfg = train_in_process.config((target, _aux(tmp_path)),
                                  batch_size=4,
                                  epochs=2)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--cfg-options',
                         'train_dataloader.drop_last=True')
    msg = str(info.value)
    assert ('3 training samples give no batch of batch_size=4 with '
            'drop_last=True') in msg
    assert 'train_dataloader.batch_size=3' in msg
    assert not work.exists()


class _Sized:

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def _cfg(**loader):
    return Config(
        dict(
            launcher='pytorch',
            train_cfg=dict(max_epochs=1),
            model=dict(
                type='ImageClassifier',
                backbone=dict(
                    type='ResNet', depth=18, stem_channels=8, base_channels=8),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=2,
                          in_channels=64)),
            train_dataloader=dict(
                batch_size=4,
                sampler=dict(type='DefaultSampler', shuffle=True),
                **loader)))


@pytest.mark.parametrize('n,round_up,per_rank', [(9, True, '5, 5'),
                                                 (9, False, '5, 4')])
def test_batches_are_counted_per_rank(monkeypatch, n, round_up, per_rank):
    # 9 samples over 2 processes: 5 on rank 0 (its last batch: 1 sample)
    monkeypatch.setenv('WORLD_SIZE', '2')
    cfg = _cfg()
    cfg.train_dataloader.sampler.round_up = round_up
    said = []
    check_train_batches(cfg, _Sized(n), said.append)
    assert cfg.train_dataloader.drop_last is True
    assert f'over 2 processes ({per_rank} per rank)' in said[0]
    # 8 samples on 2 ranks: 4 each, no batch of one, nothing changed
    cfg = _cfg()
    check_train_batches(cfg, _Sized(8), said.append)
    assert 'drop_last' not in cfg.train_dataloader and len(said) == 1


def test_zero_batches_per_rank_is_refused_for_the_world_size(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '4')
    with pytest.raises(
            ConfigError,
            match=r'6 training samples over 4 '
            r'processes \(2, 2, 2, 2 per rank\) give no batch'):
        check_train_batches(_cfg(drop_last=True), _Sized(6))


def test_an_explicit_zero_epoch_run_is_not_refused():
    # the benchmark's k-NN stage evaluates initial weights with max_epochs=0
    cfg = _cfg(drop_last=True)
    cfg.train_cfg.max_epochs = 0
    said = []
    check_train_batches(cfg, _Sized(1), said.append)
    assert said == [
        'train_cfg.max_epochs=0: nothing is trained (hooks that '
        'run before or after training, such as KNNEvalHook, '
        'still run).'
    ]


@pytest.mark.parametrize('loop', [
    dict(max_epochs=-1),
    dict(max_epochs=1.5),
    dict(max_epochs='2'),
    dict(type='IterBasedTrainLoop', max_iters=-5),
])
def test_a_training_length_that_is_no_whole_number_is_refused(loop):
    # (a whole float, which mmengine's loops take, passes)
    cfg = _cfg()
    cfg.train_cfg = dict(max_epochs=2.0)
    check_train_batches(cfg, _Sized(8))
    # max_epochs=-1 ran no epoch and exited 0, silently
    cfg = _cfg()
    cfg.train_cfg = loop
    key = 'max_epochs' if 'max_epochs' in loop else 'max_iters'
    with pytest.raises(
            ConfigError,
            match=rf'train_cfg\.{key}=.*: give a whole number >= 1'):
        check_train_batches(cfg, _Sized(8))


def test_a_negative_epoch_count_is_refused_by_train(tmp_path,
                                                    train_in_process):
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    cfg = train_in_process.config((root, _aux(tmp_path)))
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match=r'train_cfg\.max_epochs=-1'):
        train_in_process(cfg, work, '--cfg-options', 'train_cfg.max_epochs=-1')
    assert not work.exists()


def _untrained_checkpoint(path):
    """What a stock mmengine run with no batch per epoch saves: the initial
    weights, meta iter 0."""
    ckpt = write_backbone_checkpoint(path)
    state = torch.load(ckpt)
    state['meta'] = dict(epoch=2, iter=0)
    torch.save(state, ckpt)
    return ckpt


def test_a_checkpoint_saved_at_iteration_0_is_refused_as_pretrained(
        tmp_path, train_in_process):
    ckpt = _untrained_checkpoint(tmp_path / 'epoch_2.pth')
    target = write_image_folder(tmp_path / 'target', 8, seed=1)
    cfg = train_in_process.write(classifier_config(target, ckpt))
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match='was saved at iteration 0, by a '
            'run that never took an optimizer step'):
        train_in_process(cfg, work)
    assert not osp.exists(work / 'epoch_1.pth')


def test_the_benchmark_refuses_an_untrained_start(tmp_path):
    from mixssl_mm.benchmark.planning import check_start
    ckpt = _untrained_checkpoint(tmp_path / 'start.pth')
    with pytest.raises(SystemExit, match='saved at iteration 0'):
        check_start(ckpt, 18)
