"""mixssl_mm.preflight.dataloaders: dataloader options that contradict each
other are resolved (when lossless) or refused with the key to change, before
the Runner. The reported case: num_workers=0 failed after the Runner was
built with 'persistent_workers option needs num_workers > 0', although the
config never set persistent_workers (mmpretrain's merge_args adds it)."""
import warnings

import pytest
import torch
from mmengine.config import Config

from mixssl_mm.preflight import ConfigError
from mixssl_mm.preflight.dataloaders import (LOADERS, check_dataloaders,
                                             has_accelerator)
from tests._helpers.training import CLASSIFIER_EVAL, classifier_config


def test_no_workers_trains_whatever_merge_args_added(tmp_path, image_folders,
                                                     train_in_process):
    path = train_in_process.config(image_folders)
    text = open(path).read()
    assert ' persistent_workers=False,' in text
    # the config sets num_workers=0 and nothing else about workers; the
    # command line adds a prefetch_factor, which needs workers as well
    cfg = train_in_process.write(
        text.replace(' persistent_workers=False,', ''))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        runner = train_in_process(cfg, tmp_path / 'work', '--cfg-options',
                                  'train_dataloader.prefetch_factor=2')
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    loader = runner.train_dataloader
    assert loader.num_workers == 0 and not loader.persistent_workers
    assert loader.prefetch_factor is None
    # pinned memory needs an accelerator; without one torch warned about it
    # on every epoch
    assert loader.pin_memory == has_accelerator()
    assert not [w for w in caught if 'pin_memory' in str(w.message)]


def test_test_tool_with_no_workers(tmp_path, image_folders, one_thread,
                                   train_in_process):
    from mmpretrain.models import ResNet
    backbone = ResNet(depth=18, stem_channels=16, base_channels=16)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({
        'head.fc.weight': torch.zeros(2, 128),
        'head.fc.bias': torch.zeros(2)
    })
    ckpt = tmp_path / 'ft.pth'
    torch.save({'meta': {}, 'state_dict': state}, ckpt)
    cfg = train_in_process.write(
        classifier_config(image_folders[0], ckpt, extra=CLASSIFIER_EVAL))
    metrics = train_in_process.test(
        cfg, ckpt, tmp_path / 'work', '--cfg-options',
        'test_dataloader.persistent_workers=True',
        'test_dataloader.multiprocessing_context=spawn')
    assert metrics['accuracy/top1'] == 50.0


def _loaders(**options):
    base = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False))
    return Config({name: dict(base, **options) for name in LOADERS})


def test_worker_options_without_workers_are_resolved_in_every_loader():
    cfg = _loaders(
        persistent_workers=True,
        prefetch_factor=4,
        multiprocessing_context='spawn',
        pin_memory=True)
    check_dataloaders(cfg)
    for name in LOADERS:
        loader = cfg[name]
        assert loader.persistent_workers is False
        assert loader.prefetch_factor is None
        assert loader.multiprocessing_context is None
        assert loader.pin_memory == has_accelerator()
    # with workers they stay as written
    cfg = _loaders(num_workers=2, persistent_workers=True, prefetch_factor=4)
    check_dataloaders(cfg)
    assert cfg.val_dataloader.persistent_workers is True
    assert cfg.val_dataloader.prefetch_factor == 4


@pytest.mark.parametrize(
    'options, message',
    [
        (dict(num_workers=-1), r'val_dataloader.num_workers=-1: give a whole'),
        (dict(num_workers=1.5), r'val_dataloader.num_workers=1.5'),
        # torch's raw ValueError came after the Runner was built
        (dict(batch_size=0),
         r'val_dataloader.batch_size=0: give a whole number'),
        (dict(batch_size=-2), r'val_dataloader.batch_size=-2'),
        (dict(batch_size=2.5), r'val_dataloader.batch_size=2.5'),
        (dict(batch_size=True), r'val_dataloader.batch_size=True'),
        (dict(sampler=None), r"Add val_dataloader.sampler = dict\(type="),
        (dict(shuffle=True), r'Remove val_dataloader.shuffle and set '
         r'val_dataloader.sampler.shuffle=True instead'),
        (dict(
            batch_sampler=dict(type='AspectRatioBatchSampler'),
            drop_last=True), r'Remove val_dataloader.drop_last'),
    ])
def test_contradictions_without_a_lossless_resolution_are_refused(
        options, message):
    cfg = _loaders()
    cfg.val_dataloader.update(options)
    with pytest.raises(ConfigError, match=message):
        check_dataloaders(cfg)
