"""mixssl_mm.apis.train: mmpretrain's train.py command line plus
--overwrite, runnable as ``python -m mixssl_mm.apis.train``; a checkpoint
that could run code is refused before the run writes anything."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

from mixssl_mm.apis.train import EPILOG


def test_python_m_help_shows_mmpretrain_flags_and_ours(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'mixssl_mm.apis.train', '-h'],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path),
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    # usage first; --overwrite is one of the options, in the usage too
    assert out.stdout.startswith('usage: ')
    usage = out.stdout[:out.stdout.index('\n\n')]
    for flag in ('--work-dir', '--resume', '--amp', '--cfg-options',
                 '--launcher', '--overwrite'):
        assert flag in usage
    assert '  --overwrite           start over in a work dir' in out.stdout
    assert out.stdout.rstrip().endswith(EPILOG)
    assert 'job launcher (default: none)' in out.stdout


def test_resume_from_a_crafted_checkpoint_is_refused(tmp_path, image_folders,
                                                     train_in_process):

    class Evil:

        def __reduce__(self):
            return os.system, ('echo pwned', )

    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Evil()}, evil)
    work = tmp_path / 'work'
    with pytest.raises(pickle.UnpicklingError) as info:
        train_in_process(
            train_in_process.config(image_folders), work, '--resume',
            str(evil))
    msg = str(info.value)
    assert msg.startswith(f'refusing to load checkpoint {evil}: it needs `')
    assert 'system' in msg and 'Trust model' in msg
    assert len(msg) < 700  # not torch's page-long message
    assert not work.exists()
