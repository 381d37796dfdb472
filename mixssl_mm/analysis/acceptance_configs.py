# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Part (a) of the acceptance run: each given pretraining config trains a
few iterations in this process, through ``mixssl_mm.apis.train.train``
(the pre-flight checks and the Runner of ``tools/train.py``), with bf16 AMP
(``AmpOptimWrapper(dtype='bfloat16')``; on a CPU through
:mod:`mixssl_mm.compat`). One JSON line per config is appended to
``--out`` as soon as it is done, so a run stopped at the acceptance budget
keeps what finished::

    python -m mixssl_mm.analysis.acceptance_configs --out a.jsonl \\
        --work-dir W --iters 20 CONFIG [CONFIG ...]

Sizes: the configs as shipped (batch, resolution, ResNet-50), the first
``iters x batch`` training images; ``--tiny``: shrunk as in the launch
matrix (:func:`mixssl_mm.analysis.shrink.shrink_options`). In both, no
checkpoints are written and ``compile`` is off (compilation would be most
of 20 iterations; part (c) times the compiled fast config).

Reported per config: ``status`` (``ok``/``failed`` with the error's last
lines), ``step_ms`` (median time of a training iteration after the first
quarter, CUDA-synchronised, train_step plus the hooks' per-iteration work),
``peak_mem_mib`` (:class:`mixssl_mm.analysis.memory.PeakMemory`) and the
wall ``seconds`` of the config (build, data, iterations). The first line
describes the environment (``{"environment": ...}``).
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
import traceback
from collections import OrderedDict
from typing import List, Optional

import torch
from mmengine.hooks import Hook

TIMER = 'mixssl_mm.analysis.acceptance_configs.StepTimerHook'
TINY_BATCH = 4


class StepTimerHook(Hook):
    """Wall time of every training iteration (after the batch is loaded),
    CUDA-synchronised at both ends. Built by the Runner from its import
    path (``custom_hooks=[dict(type=TIMER)]``); nothing is registered."""

    priority = 'LOWEST'

    def __init__(self):
        self.times: List[float] = []
        self._t0 = 0.0

    @staticmethod
    def _sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._sync()
        self._t0 = time.perf_counter()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self._sync()
        self.times.append(time.perf_counter() - self._t0)


def environment() -> dict:
    """Python, torch, device and what the GPU offers."""
    env = OrderedDict(
        python=platform.python_version(),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        device="cpu",
        host_cpus=os.cpu_count())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(
            device=props.name,
            gpu_mem_gib=round(props.total_memory / 2**30, 1),
            bf16=torch.cuda.is_bf16_supported())
    return env


def write_image_folder(npz: str, folder: str, n: int) -> str:
    """The first ``n`` training images of a MedMNIST ``.npz`` as PNGs in
    class sub-folders of ``folder`` (``CustomDataset`` layout), for the
    configs that read image folders: the Kaggle blood cells and Imagenette
    are not carried to a GPU machine. Returns ``folder``."""
    import cv2
    import numpy as np
    with np.load(npz) as data:
        images, labels = data['train_images'][:n], data['train_labels']
    for i, img in enumerate(images):
        d = osp.join(folder, f'class_{int(labels[i][0])}')
        os.makedirs(d, exist_ok=True)
        cv2.imwrite(osp.join(d, f'{i:05d}.png'), img[..., ::-1])  # BGR
    return folder


def run_options(cfg, iters: int, tiny: bool, medmnist, folder) -> dict:
    """cfg-options for one config: its first ``iters`` batches, bf16 AMP,
    no checkpoints, no compile, the step timer."""
    from mixssl_mm.analysis.shrink import data_options, shrink_options
    if tiny:
        opts = shrink_options(
            cfg,
            samples=iters * TINY_BATCH,
            batch_size=TINY_BATCH,
            medmnist=medmnist,
            folder=folder)
    else:
        batch = cfg.train_dataloader.batch_size
        opts = data_options(
            cfg,
            iters * batch,
            batch,
            medmnist,
            folder,
            num_workers=cfg.train_dataloader.num_workers,
            loaders=('train_dataloader', ))
        opts['train_cfg.max_epochs'] = 1
        opts['default_hooks.logger.interval'] = 5
    opts.update({
        'optim_wrapper.type':
        'AmpOptimWrapper',
        'optim_wrapper.dtype':
        'bfloat16',
        # bf16 has float32's range: no loss scaling
        'optim_wrapper.loss_scale':
        dict(enabled=False),
        'compile':
        False,
        'default_hooks.checkpoint':
        None,
        'randomness.seed':
        0,
        'custom_hooks':
        list(cfg.get('custom_hooks') or []) + [dict(type=TIMER)],
    })
    return opts


def run_config(path: str, index: int, args) -> dict:
    """Train one config; never raises (a failure is the row's status)."""
    from mmengine.config import Config

    from mixssl_mm.apis.train import train
    from .memory import PeakMemory
    name = osp.splitext(osp.basename(path))[0]
    row = OrderedDict(config=path, status='failed')
    t0 = time.time()
    meter = PeakMemory('cuda' if torch.cuda.is_available() else 'cpu')
    runner = None
    try:
        cfg = Config.fromfile(path)
        cfg.merge_from_dict(
            run_options(cfg, args.iters, args.tiny,
                        (args.data_root, args.ann_file), args.folder))
        cfg.work_dir = osp.join(args.work_dir, name)
        cfg.launcher = 'none'
        # runners of one process need distinct names (mmengine names them
        # by the second)
        cfg.experiment_name = f'{name}_{index}'
        meter.start()
        runner = train(cfg, overwrite=True)
        times = next(h for h in runner.hooks
                     if isinstance(h, StepTimerHook)).times
        timed = times[len(times) // 4:] or times
        row.update(
            status='ok',
            iters=len(times),
            step_ms=round(1e3 * statistics.median(timed), 1),
            peak_mem_mib=round(meter.stop(), 1))
    except Exception as e:  # noqa: BLE001  (the row reports it)
        lines = traceback.format_exception(type(e), e, e.__traceback__)
        row['error'] = ''.join(lines)[-1500:]
    finally:
        # the next config's PeakMemory.start() collects and empties the
        # CUDA cache; a collection here would only double that cost
        del runner
    row['seconds'] = round(time.time() - t0, 1)
    return row


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('configs', nargs='+')
    p.add_argument('--out', required=True, help='JSON lines, appended')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--tiny', action='store_true')
    p.add_argument('--data-root', default='data/medmnist')
    p.add_argument('--ann-file', default='bloodmnist.npz')
    p.add_argument(
        '--folder',
        default=None,
        help='image folder for configs that read one')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    import mixssl_mm  # noqa: F401  (registrations)
    args = parse_args(argv)

    def emit(obj):
        with open(args.out, 'a') as f:
            f.write(json.dumps(obj) + '\n')

    emit({'environment': environment()})
    for i, path in enumerate(args.configs):
        row = run_config(path, i, args)
        emit(row)
        print(
            f"{row['status']:6s} {path} {row.get('step_ms', '-')} ms/step",
            flush=True)
    return 0


if __name__ == '__main__':
    from mixssl_mm.compat import apply_compat_fixes
    apply_compat_fixes()  # an entry point (acceptance._py applies it too)
    # the module's own main, so that StepTimerHook is the class the Runner
    # builds from TIMER (not a second copy in __main__)
    from mixssl_mm.analysis.acceptance_configs import main as _main
    sys.exit(_main())
