"""mixssl_mm.preflight.work_dir: an earlier run's checkpoints are neither
overwritten silently nor deleted without --overwrite; a run that fails
before its first iteration leaves the work dir as it found it."""
import os

import pytest
from mmengine.config import Config

from mixssl_mm.preflight import (ConfigError, WorkDirGuard, check_work_dir,
                                 existing_checkpoints)
from mixssl_mm.preflight.work_dir import check_work_dir_is_folder
from tests._helpers.training import iters_of


def test_checkpoints_are_found_and_guarded(tmp_path):
    work = tmp_path / 'work'
    assert existing_checkpoints(str(work)) == []
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    (work / 'epoch_1.pth').write_bytes(b'')
    (work / 'last_checkpoint').write_text('epoch_1.pth')
    assert existing_checkpoints(
        str(work)) == ['epoch_1.pth', 'last_checkpoint']
    cfg = Config(dict(work_dir=str(work)))
    with pytest.raises(ConfigError, match='already holds checkpoints'):
        check_work_dir(cfg, overwrite=False)
    assert check_work_dir(
        cfg, overwrite=True) == [
            str(work / 'epoch_1.pth'),
            str(work / 'last_checkpoint')
        ]
    cfg.resume = True
    assert check_work_dir(cfg, overwrite=False) == []


def test_guard_removes_only_what_a_failed_run_created(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    with pytest.raises(RuntimeError):
        with WorkDirGuard(str(work)):
            (work / '20250101_000000').mkdir()
            (work / 'cfg.py').write_text('')
            raise RuntimeError('before the first iteration')
    assert os.listdir(work) == ['notes.txt']
    fresh = tmp_path / 'fresh'
    with pytest.raises(RuntimeError):
        with WorkDirGuard(str(fresh)):
            fresh.mkdir()
            raise RuntimeError('before the first iteration')
    assert not fresh.exists()
    # after an iteration the run's outputs are kept
    with pytest.raises(RuntimeError):
        with WorkDirGuard(str(work)) as guard:
            (work / 'iter_1.pth').write_bytes(b'')
            guard.iters_done = 1
            raise RuntimeError('in iteration 2')
    assert sorted(os.listdir(work)) == ['iter_1.pth', 'notes.txt']


def test_negative_gamma_keeps_an_existing_work_dir_as_it_was(
        tmp_path, image_folders, train_in_process):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    with pytest.raises(
            ValueError, match=r'loss_weight \(γ\) must be a '
            'number >= 0'):
        train_in_process(
            train_in_process.config(image_folders), work, '--cfg-options',
            'model.head.loss.loss_weight=-1.0')
    assert os.listdir(work) == ['notes.txt']


def test_work_dir_with_checkpoints_needs_resume_or_overwrite(
        tmp_path, image_folders, train_in_process):
    work = tmp_path / 'work'
    cfg = train_in_process.config(image_folders)
    train_in_process(cfg, work)
    before = sorted(os.listdir(work))
    with pytest.raises(
            ConfigError,
            match=r'already holds checkpoints '
            r'(?s:.*)--resume(?s:.*)--work-dir(?s:.*)--overwrite'):
        train_in_process(cfg, work)
    assert sorted(os.listdir(work)) == before
    stale = work / 'iter_9.pth'
    stale.write_bytes(b'from an older run')
    train_in_process(cfg, work, '--overwrite')
    assert not stale.exists() and iters_of(work) == 2


@pytest.mark.parametrize('where', ['file', 'file/sub'])
def test_a_work_dir_that_is_or_lies_in_a_file_is_refused(tmp_path, where):
    # mmengine's raw FileExistsError / NotADirectoryError came after the
    # model was built
    (tmp_path / 'file').write_text('not a folder')
    cfg = Config(dict(work_dir=str(tmp_path / where)))
    with pytest.raises(ConfigError, match=f'{tmp_path}/file is a file'):
        check_work_dir(cfg, overwrite=False)
    with pytest.raises(ConfigError, match='Give --work-dir a folder'):
        check_work_dir_is_folder(cfg)
    check_work_dir_is_folder(Config(dict(work_dir=str(tmp_path / 'new/a'))))
