"""Launching the shipped ``tools/dist_train.sh``/``dist_test.sh`` from tests
(torchrun, gloo on a CPU) on tiny generated data, and reading what the ranks
left behind. Shared by tests/test_distributed/."""
import os
import os.path as osp
import re
import socket
import subprocess
from functools import lru_cache
from typing import List, Optional

import cv2
import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPERS = osp.dirname(osp.abspath(__file__))
# a name that MedMNIST reads as BloodMNIST (class names) but that the
# pre-flight md5 check does not take for the official file
TINY_NPZ = 'bloodmnist_tiny.npz'
# the test-only hook that saves every rank's parameters and buffers, by its
# import path: ``custom_imports`` given with --cfg-options would come too
# late (Config.fromfile imports them before the options are merged)
RANK_HOOK_OPTIONS = [
    'default_hooks.rank_params.type=rank_params_hook.RankParamsDumpHook'
]
CRASH_MARKERS = ('terminate called', 'Traceback', 'SIGABRT', 'Signal 6')


def shipped_configs() -> List[str]:
    """Every config under configs/ except the ``_base_`` files, relative to
    the repository root, sorted."""
    from mixssl_mm.analysis.shrink import shipped_configs as configs
    return [osp.relpath(p, REPO) for p in configs(osp.join(REPO, 'configs'))]


@lru_cache(maxsize=None)
def parsed_config(config: str):
    """The parsed config (``config`` relative to the repository root),
    parsed once per session; callers must not modify it."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, config))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def write_tiny_medmnist(root, n=(32, 16, 16), size=28, seed=0) -> str:
    """A MedMNIST-format ``.npz`` (RGB uint8 images, (N, 1) labels of the 8
    BloodMNIST classes, each class in every split) of ``n`` = (train, val,
    test) samples; returns ``root``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(('train', 'val', 'test'), n):
        arrays[f'{split}_images'] = rng.integers(
            0, 256, (count, size, size, 3), dtype=np.uint8)
        arrays[f'{split}_labels'] = (np.arange(count) % 8).reshape(-1, 1)
    os.makedirs(root, exist_ok=True)
    np.savez(osp.join(root, TINY_NPZ), **arrays)
    return str(root)


def write_jpeg_folder(root, n: int, size: int = 40, seed: int = 0) -> str:
    """``n`` random JPEGs in two class sub-folders (CustomDataset layout)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = osp.join(root, 'ab'[i % 2])
        os.makedirs(folder, exist_ok=True)
        cv2.imwrite(
            osp.join(folder, f'{i:03d}.jpg'),
            rng.integers(0, 256, (size, size + 8, 3), np.uint8))
    return str(root)


def write_backbone_checkpoint(path, depth=18, width=16, seed=0) -> str:
    """A randomly initialised mmpretrain ResNet saved under ``backbone.``,
    as a pretraining run's checkpoint holds it. Seeded like the data: the
    tests that compare runs to a float tolerance see the same weights in
    every session (an unseeded draw made test_sync_bn flaky)."""
    from mmpretrain.models import ResNet
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = ResNet(depth=depth, base_channels=width, stem_channels=width)
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in net.state_dict().items()
            }
        }, str(path))
    return str(path)


def dist_env(**extra) -> dict:
    """The launch environment: the test hooks importable, one intra-op
    thread per rank (4 ranks share 2 cores), a free rendezvous port."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PORT=str(free_port()))
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (HELPERS, REPO, os.environ.get('PYTHONPATH')) if p)
    env.update(extra)
    return env


def launch(script: str,
           args: List[str],
           cwd,
           timeout: int = 300,
           env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """``bash tools/<script> ARGS`` (stdout and stderr together)."""
    return subprocess.run(
        ['bash', osp.join(REPO, 'tools', script), *args],
        cwd=str(cwd),
        env=env or dist_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)


def rank_params(work_dir, nproc: int = 2) -> List[dict]:
    """Each rank's final parameters (saved by RankParamsDumpHook)."""
    return [
        torch.load(osp.join(work_dir, f'params_rank{r}.pth'))
        for r in range(nproc)
    ]


def rank_buffers(work_dir, nproc: int = 2) -> List[dict]:
    """Each rank's ``dict(buffers=..., norm_types={module: class name})``
    (saved by RankParamsDumpHook)."""
    return [
        torch.load(osp.join(work_dir, f'buffers_rank{r}.pth'))
        for r in range(nproc)
    ]


def logged_lrs(log: str) -> List[float]:
    """Every ``lr: X`` of the train log lines."""
    return [float(v) for v in re.findall(r'\blr: (\S+)', log)]
