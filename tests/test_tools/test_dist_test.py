"""tools/dist_test.sh runs tools/test.py under torchrun, so it goes through
the same pre-flight: a checkpoint that does not fit the model is refused on
every rank before any test work, and the launcher fails."""
import os.path as osp

from tests._helpers.dist_launch import REPO, launch
from tests.test_apis.test_test import (FINETUNE_R50,
                                       resnet18_finetune_checkpoint)


def test_dist_test_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    from tests._helpers.dist_launch import TINY_NPZ, write_tiny_medmnist
    ckpt = resnet18_finetune_checkpoint(tmp_path / 'r18_finetune.pth')
    work = tmp_path / 'work'
    # the test split is built (and its classes checked) before the Runner
    data = write_tiny_medmnist(tmp_path / 'npz', n=(8, 8, 8))
    run = launch(
        'dist_test.sh', [
            osp.join(REPO, FINETUNE_R50), ckpt, '1', '--work-dir',
            str(work), '--cfg-options',
            f'test_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.ann_file={TINY_NPZ}'
        ],
        cwd=tmp_path)
    assert run.returncode != 0, run.stdout[-3000:]
    assert f'ConfigError: tools/test.py: the checkpoint {ckpt} does not ' \
        'fit the model (ImageClassifier)' in run.stdout, run.stdout[-3000:]
    assert 'Epoch(test)' not in run.stdout  # no test work was done
    assert not work.exists()


def test_dist_test_refuses_a_test_split_missing_a_class(tmp_path):
    # issue 22, kind 4, on 2 ranks: refused before the Runner on each
    import shutil

    import torch

    from tests._helpers.dist_launch import write_backbone_checkpoint
    from tests._helpers.image_folders import write_split_folders
    from tests._helpers.training import classifier_config
    from tests.test_preflight.test_eval_classes import TEST_SPLIT
    root = write_split_folders(
        tmp_path / 'data', ('a', 'b', 'c'), dict(train=2, test=2), size=16)
    shutil.rmtree(f'{root}/test/b')
    start = write_backbone_checkpoint(tmp_path / 'pretrain.pth')
    cfg = tmp_path / 'finetune_3_classes.py'
    cfg.write_text(
        classifier_config(
            f'{root}/train', start,
            extra=TEST_SPLIT.format(root=root)).replace(
                'num_classes=2', 'num_classes=3'))
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}}, ckpt)
    work = tmp_path / 'work'
    run = launch(
        'dist_test.sh',
        [str(cfg), str(ckpt), '2', '--work-dir',
         str(work)],
        cwd=tmp_path)
    assert run.returncode != 0, run.stdout[-3000:]
    assert run.stdout.count('missing (training classes without a folder '
                            'here): b') >= 2, run.stdout[-3000:]
    assert 'Epoch(test)' not in run.stdout
    assert not work.exists()
