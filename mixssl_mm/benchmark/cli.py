# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Command-line arguments of ``tools/benchmark.py``."""
import argparse
import sys

from mixssl_mm.utils.cli_help import HelpFormatter
from .methods import METHOD_GROUPS, METHODS, PROTOCOLS, method_cli_name
from .presets import PRESETS, preset_names
from .recipe import DEFAULT_RECIPE, RECIPES


def parse_benchmark_args(argv=None) -> argparse.Namespace:
    """``tools/benchmark.py``'s arguments; ``args.argv`` keeps ``argv``
    (results.md quotes the command)."""
    parser = argparse.ArgumentParser(
        description="Benchmark MixSSL against mmpretrain's SSL methods (or "
        'any SSL config) on BloodMNIST, another MedMNIST file or your own '
        'image folders.',
        formatter_class=HelpFormatter,
        epilog='Presets:\n' +
        '\n'.join(f'  {k.replace("_", "-"):10s} {v["description"]}'
                  for k, v in PRESETS.items()) + '\n\nMethods:\n' +
        '\n'.join(
            f'  {method_cli_name(m):20s} {v["name"]}' +
            (f' (design variant: {v["design"]})' if 'design' in v else '')
            for m, v in METHODS.items()))
    add = parser.add_argument
    add('--preset',
        default='cpu-small',
        choices=preset_names(),
        help='run lengths, seeds and protocols (default: cpu-small); the '
        'presets are listed below')
    add('--methods',
        nargs='+',
        metavar='METHOD',
        help='methods or groups to run (default: the preset\'s), or any '
        'self-supervised config, fitted to the run as the methods are '
        '(docs/benchmark.md): mmpretrain::<dir>/<file>.py (mmpretrain\'s '
        'installed configs), a file, or NAME=CONFIG to name it. Methods: '
        'listed below. Groups: ' +
        '; '.join(f'{g} = {" ".join(method_cli_name(m) for m in ms)}'
                  for g, ms in METHOD_GROUPS.items()))
    add('--ablations',
        action='store_true',
        help='run MixSSL\'s objectives (T, R, R+T, R+C, R+A; after the '
        '--methods, when given) and add the paper\'s Table 3 to results.md')
    add('--recipe',
        choices=list(RECIPES),
        default=DEFAULT_RECIPE,
        help='the optimizer and schedule of every stage of every method: '
        'fair = AdamW (weight decay 0.05, none on BN/bias), 10 %% linear '
        'warm-up then cosine decay, the preset\'s lr; paper = the paper\'s '
        'constant Adam (lr 1e-4, L2 weight decay 1e-4) (docs/benchmark.md)')
    add('--init-ckpt',
        metavar='PATH',
        help='the paper\'s start: a converted ImageNet ResNet '
        '(tools/model_converters/) that every method\'s pretraining encoder '
        'starts from and that imagenet-self fine-tunes (Rand stays random)')
    add('--imagenet-ckpt',
        metavar='PATH',
        help='converted ImageNet ResNet weights for method imagenet-self '
        'only (--init-ckpt gives them to every method)')
    add('--aux-root',
        metavar='DIR',
        help='auxiliary images for MixSSL, its Table-3 objectives and its '
        'design variants from a folder (e.g. Imagenette\'s train/; labelled '
        'by its class sub-folders, which R+A needs); default: the natural '
        'photo pool of tools/data/fetch_natural_photos.py, or NaturalPhotoPool'
        '\'s 16 photos (with a warning) when it is not fetched')
    add('--jobs',
        type=int,
        help='runs at a time (independent method/seed chains; default: the '
        'preset\'s)')
    add('--seeds', nargs='+', type=int, help='seeds (default: the preset\'s)')
    add('--work-dir', help='default: work_dirs/benchmark/<preset>')
    add('--classes',
        choices=['4', '8'],
        help='BloodMNIST only: 8 = all (the default), 4 = the paper task '
        '(labels 1, 4, 5, 6). Other data: every class, unless '
        '--classes-subset')
    add('--classes-subset',
        nargs='+',
        metavar='CLASS',
        help='classes to keep, by name or id (a MedMNIST file\'s label ids, '
        'a folder\'s class folders in sorted order); they become 0..k-1 in '
        'this order')
    add('--num-classes',
        type=int,
        help='a check: the task\'s class count, refused when the data '
        'holds another (the classes are read off the data)')
    add('--positive-class',
        metavar='NAME|INDEX',
        help='binary tasks: the positive class whose precision, recall and '
        'F1 results.md reports (the paper\'s Table 2; default index 1)')
    add('--data-root',
        help='folder of the .npz (default data/medmnist/), or an image-folder '
        'dataset: train/<class>/… and test/<class>/… (val/ optional) or '
        'TRAIN/<CLASS>/…, TEST/<CLASS>/…')
    add('--ann-file',
        help='MedMNIST .npz, relative to --data-root or '
        'absolute (default bloodmnist.npz)')
    add('--protocols',
        nargs='+',
        choices=list(PROTOCOLS),
        default=list(PROTOCOLS),
        help='fine-tune, linear probe, k-NN (weighted k-NN top-1 of the '
        'frozen encoder, k=20, T=0.07; a 0-epoch run with KNNEvalHook)')
    add('--label-fractions',
        nargs='+',
        type=float,
        metavar='F',
        help='fine-tune on each fraction of the training labels, stratified '
        'by class, fixed per seed, the same for every method, e.g. 0.01 0.1 '
        '1.0 (1.0: the full fine-tune; default: the preset\'s, else 1.0)')
    add('--recalibrate-bn',
        action='store_true',
        help='re-estimate the encoder\'s BatchNorm statistics on clean target '
        'train images before the linear probe and the k-NN evaluation, for '
        'every method (precise BN; the pretraining statistics of mix-trained '
        'encoders come from mixed images)')
    add('--pretrain-cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='extra --cfg-options for pretraining stages')
    add('--downstream-cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='extra --cfg-options for fine-tune / linear '
        'probe / test stages')
    add('--threads',
        type=int,
        help='CPU threads per run (OMP_NUM_THREADS; 1 is much faster when '
        'other jobs share the cores; default: the preset\'s, else cores / '
        'jobs when jobs > 1, else torch\'s default)')
    add('--dry-run',
        action='store_true',
        help='print the commands, run nothing')
    add('--verbose',
        action='store_true',
        help='echo the commands and the runs\' output')
    add('--ignore-changes',
        action='store_true',
        help='reuse finished stages even if their command differs')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args
