"""Bit-exact resume after SIGKILL, atomic checkpoint writes and
max_keep_ckpts, with real tools/train.py processes (docs/reliability.md)."""
import glob
import os.path as osp
import signal
import subprocess
import sys
import time

import torch

from tests._helpers.training import REPO, mixssl_config, subprocess_env
from tests.conftest import write_image_folder

# 8 targets / batch 2 = 4 iterations per epoch, 2 epochs; a checkpoint after
# every iteration (max 2 kept); random crops, flips, auxiliary pairing
# (numpy) and λ (the model's generator, saved in its state_dict) all draw
# from seeded generators.
OPTIONS = dict(
    view="[dict(type='LoadImageFromFile'), "
    "dict(type='RandomResizedCrop', scale=32), "
    "dict(type='RandomFlip', prob=0.5)]",
    batch_size=2,
    shuffle=True,
    optimizer="dict(type='Adam', lr=1e-3)",
    epochs=2,
    default_hooks="""dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False,
                    max_keep_ckpts=2),
    exact_resume=dict(type='ExactResumeHook'),
    non_finite=dict(type='NonFiniteLossHook'))""",
    custom_hooks="[dict(type='SlowSaveHook')]",
    randomness='dict(seed=0, deterministic=True)')


def _cmd(cfg, work, *extra):
    return [
        sys.executable,
        osp.join(REPO, 'tools/train.py'), cfg, '--work-dir',
        str(work), *extra
    ]


def _run(cfg, work, *extra):
    out = subprocess.run(
        _cmd(cfg, work, *extra),
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(),
        cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def _load(path):
    return torch.load(path, map_location='cpu')  # weights_only


def test_sigkill_during_a_save_then_resume_is_bit_exact(tmp_path):
    target = write_image_folder(tmp_path / 'target', 8, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 5, classes=('x', ), seed=2)
    cfg = tmp_path / 'resume_cfg.py'
    cfg.write_text(mixssl_config(target, aux, **OPTIONS))
    cfg = str(cfg)

    # 1. the uninterrupted run; max_keep_ckpts=2 leaves the last two
    base = tmp_path / 'base'
    _run(cfg, base)
    assert sorted(osp.basename(p) for p in glob.glob(str(base / '*.pth'))) \
        == ['iter_7.pth', 'iter_8.pth']

    # 2. the same run, SIGKILLed while it writes the checkpoint of iteration
    # 4 (made slow to write): iteration 4 is in the middle of epoch 1
    work = tmp_path / 'work'
    proc = subprocess.Popen(
        _cmd(cfg, work),
        env=subprocess_env(MIXSSL_TEST_SLOW_SAVE_AT='4'),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while not glob.glob(str(work / '.iter_4.pth.part-*')):
            assert proc.poll() is None, 'the run ended before the kill'
            assert time.time() < deadline, 'no save of iteration 4 seen'
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # no truncated checkpoint: iteration 4 is absent, iteration 3 is whole
    assert not (work / 'iter_4.pth').exists()
    assert (work /
            'last_checkpoint').read_text().strip().endswith('iter_3.pth')
    assert _load(work / 'iter_3.pth')['meta']['iter'] == 3

    # 3. resume: iterations 4..8 only, ending with the very same weights
    log = _run(cfg, work, '--resume')
    assert 'resumed epoch: 0, iter: 3' in log
    assert 'skipping its first 6 samples per rank' in log  # 3 batches
    assert log.count('Epoch(train)') == 5  # iterations 4, 5, 6, 7, 8
    assert not glob.glob(str(work / '.*.part-*'))  # stale part cleaned up
    ref, got = _load(base / 'iter_8.pth'), _load(work / 'iter_8.pth')
    assert got['meta']['iter'] == 8
    for key, value in ref['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
    for pid, state in ref['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(got['optimizer']['state'][pid][name],
                               value), (pid, name)
    # the random streams went on identically too
    assert torch.equal(ref['rng_state']['ranks'][0]['torch'],
                       got['rng_state']['ranks'][0]['torch'])
    assert ref['rng_state']['ranks'][0]['numpy'] == \
        got['rng_state']['ranks'][0]['numpy']
