# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Command-line arguments of ``tools/benchmark.py`` and of
``tools/analysis_tools/benchmark_throughput.py`` (which
``profile_mixssl_step.py`` shares)."""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from mixssl_mm.analysis.throughput import (DEFAULT_METHODS, MODES,
                                           THROUGHPUT_METHODS)
from mixssl_mm.utils.cli_help import HelpFormatter
from .methods import METHOD_GROUPS, METHODS, PROTOCOLS, method_cli_name
from .presets import PRESETS, preset_names
from .recipe import DEFAULT_RECIPE, RECIPES

BENCHMARK_DESCRIPTION = ("Benchmark MixSSL against mmpretrain's SSL methods "
                         '(or any SSL config) on BloodMNIST, another MedMNIST '
                         'file or your own image folders.')


def parse_benchmark_args(argv=None) -> argparse.Namespace:
    """``tools/benchmark.py``'s arguments; ``args.argv`` keeps ``argv``
    (results.md quotes the command)."""
    parser = argparse.ArgumentParser(
        description=BENCHMARK_DESCRIPTION,
        formatter_class=HelpFormatter,
        epilog='Presets:\n' +
        '\n'.join(f'  {k.replace("_", "-"):10s} {v["description"]}'
                  for k, v in PRESETS.items()) + '\n\nMethods:\n' +
        '\n'.join(
            f'  {method_cli_name(m):20s} {v["name"]}' +
            (f' (design variant: {v["design"]})' if 'design' in v else '')
            for m, v in METHODS.items()))
    parser.add_argument(
        '--preset',
        default='cpu-small',
        choices=preset_names(),
        help='run lengths, seeds and protocols (default: cpu-small); the '
        'presets are listed below')
    parser.add_argument(
        '--methods',
        nargs='+',
        metavar='METHOD',
        help='methods or groups to run (default: the preset\'s), or any '
        'self-supervised config, fitted to the run as the methods are '
        '(docs/benchmark.md): mmpretrain::<dir>/<file>.py (mmpretrain\'s '
        'installed configs), a file, or NAME=CONFIG to name it. Methods: ' +
        ', '.join(method_cli_name(m) for m in METHODS) + '. Groups: ' +
        '; '.join(f'{g} = {" ".join(method_cli_name(m) for m in ms)}'
                  for g, ms in METHOD_GROUPS.items()))
    parser.add_argument(
        '--ablations',
        action='store_true',
        help='run MixSSL\'s objectives (T, R, R+T, R+C, R+A; after the '
        '--methods, when given) and add the paper\'s Table 3 to results.md')
    parser.add_argument(
        '--recipe',
        choices=list(RECIPES),
        default=DEFAULT_RECIPE,
        help='the optimizer and schedule of every pretraining and downstream '
        'stage, for every method: fair = AdamW (weight decay 0.05, none on '
        'BN/bias), linear warm-up over 10 %% of the steps then cosine decay, '
        'the preset\'s lr; paper = the paper\'s constant Adam (lr 1e-4, L2 '
        'weight decay 1e-4) as in the shipped configs (docs/benchmark.md)')
    parser.add_argument(
        '--init-ckpt',
        metavar='PATH',
        help='the paper\'s start: a converted ImageNet ResNet '
        '(tools/model_converters/) that every method\'s pretraining encoder '
        'starts from and that imagenet-self fine-tunes (Rand stays random)')
    parser.add_argument(
        '--imagenet-ckpt',
        metavar='PATH',
        help='converted ImageNet ResNet weights for method imagenet-self '
        'only (the other methods start from random weights); --init-ckpt '
        'gives the same file to every method')
    parser.add_argument(
        '--aux-root',
        metavar='DIR',
        help='auxiliary images for MixSSL, its Table-3 objectives and its '
        'design variants from a folder (e.g. Imagenette\'s train/; labelled '
        'by its class sub-folders, which R+A needs); default: the natural '
        'photo pool of tools/data/fetch_natural_photos.py, or NaturalPhotoPool'
        '\'s 16 photos (with a warning) when it is not fetched')
    parser.add_argument(
        '--jobs',
        type=int,
        help='runs at a time (independent method/seed chains; default: the '
        'preset\'s)')
    parser.add_argument(
        '--seeds', nargs='+', type=int, help='seeds (default: the preset\'s)')
    parser.add_argument(
        '--work-dir', help='default: work_dirs/benchmark/<preset>')
    parser.add_argument(
        '--classes',
        choices=['4', '8'],
        help='BloodMNIST only: 8 = all (the default), 4 = the paper task '
        '(labels 1, 4, 5, 6). Other data: every class, unless '
        '--classes-subset')
    parser.add_argument(
        '--classes-subset',
        nargs='+',
        metavar='CLASS',
        help='classes to keep, by name or id (a MedMNIST file\'s label ids, '
        'a folder\'s class folders in sorted order); they become 0..k-1 in '
        'this order')
    parser.add_argument(
        '--num-classes',
        type=int,
        help='a check: the task\'s class count, refused when the data '
        'holds another (the classes are read off the data)')
    parser.add_argument(
        '--positive-class',
        metavar='NAME|INDEX',
        help='binary tasks: the positive class whose precision, recall and '
        'F1 results.md reports (the paper\'s Table 2; default index 1)')
    parser.add_argument(
        '--data-root',
        help='folder of the .npz (default data/medmnist/), or an image-folder '
        'dataset: train/<class>/… and test/<class>/… (val/ optional) or '
        'TRAIN/<CLASS>/…, TEST/<CLASS>/…')
    parser.add_argument(
        '--ann-file',
        help='MedMNIST .npz, relative to --data-root or '
        'absolute (default bloodmnist.npz)')
    parser.add_argument(
        '--protocols',
        nargs='+',
        choices=list(PROTOCOLS),
        default=list(PROTOCOLS),
        help='fine-tune, linear probe, k-NN (weighted k-NN top-1 of the '
        'frozen encoder, k=20, T=0.07; a 0-epoch run with KNNEvalHook)')
    parser.add_argument(
        '--label-fractions',
        nargs='+',
        type=float,
        metavar='F',
        help='fine-tune on each fraction of the training labels, stratified '
        'by class, fixed per seed, the same for every method, e.g. 0.01 0.1 '
        '1.0 (1.0: the full fine-tune; default: the preset\'s, else 1.0)')
    parser.add_argument(
        '--recalibrate-bn',
        action='store_true',
        help='re-estimate the encoder\'s BatchNorm statistics on clean target '
        'train images before the linear probe and the k-NN evaluation, for '
        'every method (precise BN; the pretraining statistics of mix-trained '
        'encoders come from mixed images)')
    parser.add_argument(
        '--pretrain-cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='extra --cfg-options for pretraining stages')
    parser.add_argument(
        '--downstream-cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='extra --cfg-options for fine-tune / linear '
        'probe / test stages')
    parser.add_argument(
        '--threads',
        type=int,
        help='CPU threads per run (OMP_NUM_THREADS); 1 is much faster when '
        'other jobs share the cores (default: the preset\'s, else cores / '
        'jobs when jobs > 1, else torch\'s default)')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='print the commands, run nothing')
    parser.add_argument(
        '--verbose',
        action='store_true',
        help='echo the commands and the runs\' output')
    parser.add_argument(
        '--ignore-changes',
        action='store_true',
        help='reuse finished stages even if their command differs')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def parse_throughput_args(argv=None) -> argparse.Namespace:
    """``benchmark_throughput.py``'s (and ``profile_mixssl_step.py``'s)
    arguments.

    Raises:
        SystemExit: a size that is no multiple of 32, ``--amp`` or
            ``--device cuda`` without CUDA, non-positive counts.
    """
    p = argparse.ArgumentParser(
        description='Time model.train_step of MixSSL, SimCLR and MoCo v2 '
        'with the same encoder, batch and resolution.',
        formatter_class=HelpFormatter)
    p.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=['cpu', 'cuda'],
        help='where to run (default: cuda when available, else '
        'cpu)')
    p.add_argument(
        '--depth',
        type=int,
        default=50,
        choices=[18, 50],
        help='ResNet depth of every method\'s encoder')
    p.add_argument('--batch', type=int, default=32, help='images per step')
    p.add_argument(
        '--size',
        type=int,
        default=224,
        help='input resolution (a multiple of 32)')
    p.add_argument(
        '--modes',
        nargs='+',
        default=list(MODES),
        choices=MODES,
        help='what a step includes (see docs/benchmark.md)')
    p.add_argument(
        '--methods',
        nargs='+',
        default=DEFAULT_METHODS,
        choices=THROUGHPUT_METHODS,
        help='methods to time')
    p.add_argument('--iters', type=int, default=20, help='timed steps')
    p.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='run the whole method sequence this many times and '
        'pool the timed steps (fairer on a shared machine)')
    p.add_argument(
        '--warmup',
        type=int,
        default=5,
        help='untimed steps first (compilation, allocator, '
        'worker start-up)')
    p.add_argument(
        '--num-workers',
        type=int,
        default=None,
        help='data-loader workers in pipeline mode (default: the '
        "config's)")
    p.add_argument(
        '--amp',
        action='store_true',
        help='bf16 autocast: AmpOptimWrapper(dtype=bfloat16); '
        'CUDA only')
    p.add_argument(
        '--channels-last',
        action='store_true',
        help='model and batch in torch.channels_last memory '
        'format')
    p.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile(model.train_step) as mmengine does '
        'for compile=True')
    p.add_argument(
        '--compile-backend',
        default=None,
        help="torch.compile backend, e.g. 'eager' (default: "
        "torch's, inductor)")
    p.add_argument(
        '--fused',
        action='store_true',
        help='optimizer fused=True (Adam/AdamW/SGD)')
    p.add_argument(
        '--loader-only',
        action='store_true',
        help='pipeline mode: time the dataloader alone, no '
        'training step (e.g. to size num_workers for a GPU)')
    p.add_argument(
        '--flops',
        action='store_true',
        help='also count the GFLOP of one eager train_step '
        '(one extra step before the timed ones)')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (CPU)')
    p.add_argument(
        '--mixssl-config',
        default=None,
        help='time another MixSSL config (e.g. the -fast one)')
    p.add_argument(
        '--mixssl-options',
        nargs='+',
        action=DictAction,
        default={},
        help='config overrides for MixSSL only, '
        'e.g. model.neck.n_blocks=2 model.neck.ngf=32')
    p.add_argument(
        '--data-root',
        default=osp.abspath('data/medmnist'),
        help='folder with bloodmnist.npz (pipeline mode)')
    p.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the model initialisation and the batches')
    p.add_argument('--out', default=None, help='write the results as JSON')
    p.add_argument('--md', default=None, help='write the Markdown table')
    args = p.parse_args(argv)
    if args.size % 32:
        p.error('--size must be a multiple of 32 (the encoder stride)')
    if args.loader_only:
        args.modes = ['pipeline']
    if args.iters < 1 or args.warmup < 0 or args.batch < 1 or \
            args.repeat < 1:
        p.error('--iters >= 1, --warmup >= 0, --batch >= 1, --repeat >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device is available')
    if args.amp and args.device != 'cuda':
        p.error("--amp: mmengine's AmpOptimWrapper needs CUDA (or NPU/MLU)")
    return args
