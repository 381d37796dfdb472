"""tools/quickstart.sh end to end on a few real BloodMNIST images: pretrain
MixSSL (ResNet-18, 64 px) -> fine-tune with the matching ResNet-18 / 64 px
config -> test, and the closing message names real files (no
``<timestamp>`` placeholder); the console has no warning and names each
checkpoint load once."""
import json
import os
import os.path as osp
import subprocess

import pytest

from tests._helpers.training import REPO, subprocess_env

BLOODMNIST = osp.join(REPO, 'data', 'medmnist', 'bloodmnist.npz')
SMALL_TRAIN = [
    'train_dataloader.dataset.indices=8', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False'
]
# enough test images for every class (ROC-AUC needs them all)
SMALL_TEST = [
    'test_dataloader.dataset.indices=48', 'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False'
]


@pytest.mark.skipif(
    not osp.isfile(BLOODMNIST),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py; .ci/run does)')
def test_quickstart_pretrains_finetunes_tests_and_names_real_files(tmp_path):
    env = subprocess_env(
        WORK_DIRS=str(tmp_path),
        FINETUNE_ARGS=' '.join(['--cfg-options', *SMALL_TRAIN]),
        TEST_ARGS=' '.join(['--cfg-options', *SMALL_TEST]))
    # 2 pretraining iterations, a reconstruction grid at each
    pretrain = ['--cfg-options', *SMALL_TRAIN, 'custom_hooks.0.interval=1']
    run = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'quickstart.sh'), *pretrain],
        env=env,
        capture_output=True,
        text=True,
        timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert '<timestamp>' not in out
    # no warning anywhere (mmcv's "Only use 'alpha' for pillow backend."
    # came from ColorJitter's pillow backend), on either stream
    console = out + run.stderr
    assert 'Warning' not in console and 'warn' not in console.lower(), \
        [line for line in console.splitlines() if 'arn' in line]
    # one line per checkpoint load: the fine-tuning's encoder, the test's
    # classifier (the pre-flight reads them silently)
    assert out.count('Loads checkpoint by local backend') == 2, out
    # every stage says what it does, how long and what comes next
    for stage in ('== 1/3 pretraining', '== 2/3 fine-tuning',
                  '== 3/3 testing'):
        assert stage in out
    assert 'next: fine-tuning' in out and 'next: testing' in out
    # quiet_startup: mmengine's environment/config/hook-order dumps stay in
    # the log files, off the console; each run says where they are
    assert 'Hooks will be executed' not in out and ' - Config:' not in out
    assert out.count('quiet_startup=True: the environment') == 3
    closing = out[out.index('Done. Fine-tuned ResNet-18: test top-1 '):]
    files = [line.split()[0] for line in closing.splitlines()[1:]]
    pretrained, log, grids, finetuned, metrics = files
    assert pretrained == str(tmp_path / 'quickstart' / 'epoch_1.pth')
    assert finetuned == str(tmp_path / 'quickstart_finetune' / 'epoch_1.pth')
    assert osp.isfile(log) and log.endswith('.log')
    assert osp.dirname(log) == osp.dirname(osp.dirname(grids.rstrip('/')))
    assert any(f.endswith('.png') for f in os.listdir(grids))
    top1 = json.load(open(metrics))['accuracy/top1']
    assert f'test top-1 {top1:.2f} %' in closing
    # the fine-tuning started from the pretrained encoder
    finetune_log = open(osp.join(osp.dirname(finetuned), 'last_checkpoint'))
    assert finetune_log.read().strip() == finetuned
