"""NonFiniteLossHook in a real MixSSL training run (through
mixssl_mm.apis.train, what tools/train.py runs): a NaN batch stops the run
before the bad step is saved, and the checkpoint of the last good step is
kept and finite."""
import pytest
import torch

from mixssl_mm.engine.hooks import NonFiniteLossError


def test_non_finite_loss_stops_before_the_bad_step_is_saved(
        tmp_path, image_folders, train_in_process):
    # b/005.jpg, whose pixels become NaN, is in the second batch
    cfg = train_in_process.config(
        image_folders,
        before_mixup="dict(type='PoisonSample', name='005'),",
        default_hooks="dict(logger=dict(type='LoggerHook', interval=1), "
        "checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),"
        " non_finite=dict(type='NonFiniteLossHook'))")
    work = tmp_path / 'work'
    with pytest.raises(NonFiniteLossError) as info:
        train_in_process(cfg, work)
    msg = str(info.value)
    assert 'non-finite loss (loss=nan' in msg and 'iteration 2 ' in msg
    assert msg.count('iter_1.pth') == 1 and '--resume' in msg
    assert not (work / 'iter_2.pth').exists()
    good = torch.load(work / 'iter_1.pth')['state_dict']
    assert all(
        torch.isfinite(v).all() for v in good.values()
        if v.is_floating_point())
