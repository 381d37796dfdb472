"""tools/dist_test.sh runs tools/test.py under torchrun, so it goes through
the same pre-flight: a checkpoint that does not fit the model is refused on
every rank before any test work, and the launcher fails."""
import os.path as osp

from tests._helpers.dist_launch import REPO, launch
from tests.test_apis.test_test import (FINETUNE_R50,
                                       resnet18_finetune_checkpoint)


def test_dist_test_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    ckpt = resnet18_finetune_checkpoint(tmp_path / 'r18_finetune.pth')
    work = tmp_path / 'work'
    run = launch('dist_test.sh', [osp.join(REPO, FINETUNE_R50), ckpt, '1',
                                  '--work-dir', str(work)], cwd=tmp_path)
    assert run.returncode != 0, run.stdout[-3000:]
    assert f'ConfigError: tools/test.py: the checkpoint {ckpt} does not ' \
        'fit the model (ImageClassifier)' in run.stdout, run.stdout[-3000:]
    assert 'Epoch(test)' not in run.stdout  # no test work was done
    assert not work.exists()
