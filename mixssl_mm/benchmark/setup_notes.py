# Copyright (c) mixssl_mm contributors. All rights reserved.
"""results.md's header lines about the data, the task and how the encoders
start and are evaluated (used by :func:`.report.header_lines`)."""
import os.path as osp
from typing import List

from mixssl_mm.datasets.utils.natural_photos import (FALLBACK_NOTE,
                                                     describe_pool)
from .methods import METHODS, mixes_images
from .recipe import WARMUP_FRACTION, WEIGHT_DECAY, ZERO_INIT_RESIDUAL


def data_lines(plan) -> List[str]:
    """The data (name, layout, where), the task's classes (with BloodMNIST's
    paper task named as such) and a binary task's positive class."""
    t, task = plan.target, plan.task
    where = t.path if t.kind == 'folder' else osp.basename(t.path)
    if task.paper == '4':
        classes = ('4 classes (BloodMNIST labels 1, 4, 5, 6: the paper task)'
                   f': {", ".join(task.classes)}')
    elif task.num_classes == len(t.classes):
        classes = f'all {task.num_classes} classes: {", ".join(task.classes)}'
    else:
        classes = (f'{task.num_classes} of its {len(t.classes)} classes '
                   f'(ids {task.ids}): {", ".join(task.classes)}')
    lines = [f'- Task: {classes}; data {t.name} (`{where}`, {t.layout}).']
    if plan.positive is not None:
        lines.append(
            f'- Binary task, positive class: {task.classes[plan.positive]} '
            f'(index {plan.positive}; `--positive-class`). Table 2 reports '
            'its precision, recall and F1, the ROC-AUC of its score and the '
            'accuracy.')
    return lines


def recipe_line(recipe: str) -> str:
    """The training recipe of every stage (:mod:`.recipe`), one sentence."""
    if recipe == 'paper':
        return ('Recipe `paper` (`--recipe paper`): the shipped configs\' '
                'constant Adam with L2 weight decay (1e-4; linear probe 0), '
                'for every method.')
    return (f'Recipe `fair` (the default), the same for every method and '
            f'stage: AdamW (weight decay {WEIGHT_DECAY:g}, none on BatchNorm '
            f'and biases; linear probe 0), linear warm-up over the first '
            f'{WARMUP_FRACTION:.0%} of the steps, cosine decay to 0; '
            f'`zero_init_residual={ZERO_INIT_RESIDUAL}` in every encoder.')


def protocol_lines(plan) -> List[str]:
    """The held-out protocol, the crops and the linear probe's views."""
    p, test = plan.preset, plan.target.counts['test']
    n_test = sum(test[i] for i in plan.task.ids)
    held_out = ('the official test split'
                if plan.target.kind == 'npz' else 'the test folder')
    return [
        f'- Held-out protocol: every score is on {held_out} ({n_test} '
        'images), seen by no training stage; the validation split is not '
        'used (no model selection, no early stopping): the last checkpoint '
        'of every stage is tested.',
        f'- Crops: pretraining and fine-tune RandomResizedCrops keep at '
        f'least {p["crop_scale_min"]:g} of the image area (the preset\'s '
        '`crop_scale_min`, fitted to the source resolution); Gaussian blur '
        'radii scaled with the input size.',
        '- Linear probe: trained and tested on clean views (the test '
        'pipeline: the whole image, resized); frozen encoder in eval mode '
        '(`frozen_stages=4`, `norm_eval=True`: BatchNorm keeps its '
        'pretraining statistics' +
        (', re-estimated on clean train images: '
         'see below' if plan.args.recalibrate_bn else '') +
        '), for every method.',
    ]


def start_lines(plan) -> List[str]:
    """Where the encoders start, the auxiliary images, the k-NN protocol
    and the BatchNorm re-estimation."""
    lines = []
    if plan.init_ckpt:
        lines.append(
            f'- Start: every method\'s pretraining encoder starts from '
            f'`{plan.init_ckpt}` (sha256 {plan.init_sha256[:16]}…, '
            '`--init-ckpt`); ImageNet-self fine-tunes it directly; Rand '
            'starts from random weights.')
    elif 'imagenet_self' in plan.methods:
        lines.append(f'- ImageNet-self fine-tunes `{plan.imagenet_ckpt}`; '
                     'every other method starts from random weights.')
    else:
        lines.append('- Start: every method from random weights.')
    if any(plan.starts_random(m) for m in plan.methods):
        lines.append(
            '- Rand: the encoder a pretraining stage starts from '
            '(mmpretrain ResNet\'s init: Kaiming-normal convs, BatchNorm '
            'weight 1, zero-init residual BatchNorms), built with the seed '
            '(`<work_dir>/rand_start/`), fine-tuned like the others.')
    mixing = [METHODS[m]['name'] for m in plan.methods if mixes_images(m)]
    if mixing:
        if plan.aux is None:
            aux = FALLBACK_NOTE
        elif not plan.args.aux_root:
            aux = describe_pool(plan.aux.root)
        else:
            aux = (f'`{plan.aux.root}` ({plan.aux.num_images} images, ' +
                   (f'{len(plan.aux.classes)} classes'
                    if plan.aux.classes else 'unlabelled') + ', `--aux-root`)')
        lines.append(f'- Auxiliary images of {", ".join(mixing)}: {aux}.')
    if 'knn' in plan.protocols:
        lines.append(
            '- k-NN: KNNEvalHook (k = 20, T = 0.07) on the encoder as it '
            'enters the downstream stages; memory bank = the train subset, '
            'queries = the test split, both with the test pipeline.')
    if plan.args.recalibrate_bn:
        lines.append(
            '- BatchNorm statistics re-estimated on clean target train '
            'images before the linear probe and k-NN, for every method '
            '(`--recalibrate-bn`, BNRecalibrationHook).')
    return lines
