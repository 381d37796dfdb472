# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The paper's start (``--init-ckpt``): one converted ImageNet ResNet
(DINO's or torchvision's, ``tools/model_converters/``) that every method's
pretraining encoder starts from, and that ImageNet-self fine-tunes
directly. Checked against the preset's encoder before any stage, so a
ResNet-50 file on a ResNet-18 preset is refused at once instead of in
every pretraining stage."""
import os.path as osp
from typing import Optional

from mixssl_mm.utils.hashing import file_hash

PREFIX = 'backbone.'
CONVERTER = ('python tools/model_converters/resnet_to_mmpretrain.py SRC.pth '
             'DST.pth (docs/model_converters.md)')


def start_options(path: str) -> dict:
    """cfg-options that load ``path`` into ``model.backbone`` (mmengine's
    ``Pretrained`` init with the ``backbone.`` prefix of converted files and
    of pretraining checkpoints)."""
    return {
        'model.backbone.init_cfg.type': 'Pretrained',
        'model.backbone.init_cfg.checkpoint': path,
        'model.backbone.init_cfg.prefix': PREFIX,
    }


def resolve_start(init_ckpt: Optional[str],
                  imagenet_ckpt: Optional[str]) -> Optional[str]:
    """The start checkpoint of ``--init-ckpt`` (absolute), None without.

    Raises:
        SystemExit: ``--init-ckpt`` and ``--imagenet-ckpt`` name different
            files (ImageNet-self fine-tunes the others' start).
    """
    if init_ckpt is None:
        return None
    path = osp.abspath(init_ckpt)
    if imagenet_ckpt and osp.abspath(imagenet_ckpt) != path:
        raise SystemExit(
            f'--init-ckpt {init_ckpt} and --imagenet-ckpt {imagenet_ckpt} '
            'differ; ImageNet-self fine-tunes the start every method '
            'pretrains from. Give --init-ckpt alone.')
    return path


def check_start(path: str, depth: int) -> str:
    """Check that ``path`` holds a ResNet-``depth`` under ``backbone.``
    (the pre-flight's key check of a ``Pretrained`` init, run once here
    instead of in every pretraining stage); its sha256 (for results.md).

    Raises:
        SystemExit: no such file, unreadable, unconverted (no
            ``backbone.`` key, with the converter command), or keys /
            shapes of another encoder (listed, checkpoint vs encoder).
    """
    from mmpretrain.models import ResNet

    from mixssl_mm.preflight.checkpoints import check_pretrained_keys
    from mixssl_mm.preflight.error import ConfigError
    if not osp.isfile(path):
        raise SystemExit(f'--init-ckpt {path}: no such file. Convert DINO or '
                         f'torchvision weights first: {CONVERTER}.')
    encoder = ResNet(
        depth=depth,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix=PREFIX))
    try:
        check_pretrained_keys(encoder)
    except ConfigError as e:
        raise SystemExit(
            f'--init-ckpt {path} cannot start the preset\'s encoder, '
            f'ResNet-{depth}:\n{e}\nUse a preset with the checkpoint\'s '
            'encoder (DINO\'s ResNet-50: --preset gpu-paper) or a checkpoint '
            f'of a ResNet-{depth}.') from None
    return file_hash(path, 'sha256')
