"""tools/benchmark.py with a user's own SSL config (``--methods
NAME=CONFIG``): mmpretrain's SimSiam with another depth and batch in the
user's file, benchmarked end to end at ``tiny`` on BloodMNIST's 4-class task;
the run fits it (target data, the preset's ResNet-18, batch, resolution,
optimizer) and reports it under the user's name. The fitting itself is
tested in tests/test_benchmark/test_config_fit.py."""
import glob
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'
USER_CONFIG = """_base_ = [
    'mmpretrain::simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py']
model = dict(
    backbone=dict(depth=101),
    neck=dict(in_channels=2048, hid_channels=1024, out_channels=1024),
    head=dict(predictor=dict(in_channels=1024, out_channels=1024)))
train_dataloader = dict(batch_size=8)
"""


@pytest.mark.skipif(
    not DATA.exists(),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py)')
def test_a_user_ssl_config_runs_end_to_end_at_tiny(tmp_path):
    config = tmp_path / 'my_simsiam.py'
    config.write_text(USER_CONFIG)
    work = tmp_path / 'bench'
    out = subprocess.run([
        sys.executable,
        str(TOOL), '--preset', 'tiny', '--threads', '1', '--methods',
        f'MySimSiam={config}', '--protocols', 'finetune', 'knn', '--classes',
        '4', '--work-dir',
        str(work)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    # pretrain, fine-tune, its test, k-NN
    assert '4 stages run, 0 skipped, 0 failed' in out.stdout
    md = (work / 'results.md').read_text()
    assert '| MySimSiam (n=1) |' in md
    # what the pretraining ran: the user's method fitted to the preset
    dumped = glob.glob(str(work / 'MySimSiam' / 'seed0' / 'pretrain' / '*.py'))
    cfg = Config.fromfile(dumped[0])
    assert cfg.model.type == 'SimSiam'
    assert cfg.model.backbone.depth == 18  # the preset's, not the file's
    assert cfg.model.neck.in_channels == 512  # found and fitted
    assert cfg.model.neck.hid_channels == 1024  # the user's own choice
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_dataloader.dataset.type == 'MedMNIST'
    assert cfg.train_dataloader.dataset.ann_file == 'bloodmnist.npz'
    assert cfg.train_dataloader.dataset.classes_subset == [1, 4, 5, 6]
    assert cfg.train_dataloader.dataset.pipeline[0].num_views == 2
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.train_cfg.max_epochs == 1
