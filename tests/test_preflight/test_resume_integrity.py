"""mixssl_mm.preflight.checkpoints.check_resume_file (issue 22, kind 6):
``--resume PATH`` with an unreadable (truncated) checkpoint names the newest
intact one and the command that continues it; ``--resume`` alone uses it,
with a warning."""
import os.path as osp

import pytest
import torch

from mixssl_mm.preflight import ConfigError
from mixssl_mm.utils.checkpoint import (checkpoint_error, latest_checkpoint,
                                        newest_intact_checkpoint)
from tests._helpers.training import iters_of
from tests.conftest import write_image_folder


def _truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


@pytest.fixture
def two_epochs(tmp_path, train_in_process):
    """A 2-epoch run (4 images, batch 2) with epoch_1 and epoch_2.pth, the
    newest one cut in half (mmdetection#4835: a full disk)."""
    target = write_image_folder(tmp_path / 'target', 4, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)
    cfg = train_in_process.config((target, aux), batch_size=2, epochs=2)
    work = tmp_path / 'work'
    train_in_process(cfg, work)
    _truncate(work / 'epoch_2.pth')
    return cfg, work


def test_resume_path_of_a_truncated_checkpoint_names_the_intact_one(
        two_epochs, train_in_process):
    cfg, work = two_epochs
    newest = str(work / 'epoch_2.pth')
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, '--resume', newest)
    msg = str(info.value)
    assert f'--resume {newest}: the checkpoint cannot be read' in msg
    intact = str(work / 'epoch_1.pth')
    assert (f'The newest intact checkpoint is {intact}: continue from it '
            f'with --resume {intact}') in msg


def test_resume_auto_falls_back_to_the_newest_intact_one(
        two_epochs, train_in_process, capsys):
    cfg, work = two_epochs
    train_in_process(cfg, work, '--resume')
    err = capsys.readouterr().err
    assert (f'--resume: the latest checkpoint {work}/epoch_2.pth cannot be '
            f'read') in err
    assert f'resuming from the newest intact one, {work}/epoch_1.pth' in err
    assert checkpoint_error(str(work / 'epoch_2.pth')) is None  # rewritten
    assert iters_of(work) == 4  # epoch 2 (2 iterations) trained again


def test_no_intact_checkpoint_left_is_refused(two_epochs, train_in_process):
    cfg, work = two_epochs
    _truncate(work / 'epoch_1.pth')
    with pytest.raises(
            ConfigError,
            match='no other checkpoint there is '
            'intact. Start over with --overwrite'):
        train_in_process(cfg, work, '--resume')


def test_latest_checkpoint_survives_a_stale_pointer(tmp_path):
    for n in (1, 2):
        torch.save({'meta': dict(epoch=n, iter=n)}, tmp_path / f'iter_{n}.pth')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_1.pth'))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_1.pth')
    (tmp_path / 'last_checkpoint').write_text('/gone/iter_9.pth')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    _truncate(tmp_path / 'iter_2.pth')
    assert newest_intact_checkpoint(str(tmp_path)) == \
        osp.join(str(tmp_path), 'iter_1.pth')
