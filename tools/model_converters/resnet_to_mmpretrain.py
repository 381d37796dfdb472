# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Convert torchvision or DINO ResNet weights for mmpretrain's ``ResNet``.

    python tools/model_converters/resnet_to_mmpretrain.py SRC DST \\
        [--src-format auto|torchvision|dino] [--dino-key teacher|student] \\
        [--depth 18|34|50|101|152] [--force]

SRC is a torchvision ResNet state dict, DINO's ``dino_resnet50_pretrain.pth``
or a DINO training checkpoint (``teacher``/``student``). DST gets
``{'state_dict': {'backbone.' + k: v}, 'meta': {...}}``, checked key by key
and shape by shape against an mmpretrain ``ResNet`` of the depth, and
written atomically; on any error nothing is written. Use it with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``
or ``load_from=DST``. Details: ``mixssl_mm/utils/resnet_converter.py`` and
docs/model_converters.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mixssl_mm.utils.resnet_converter import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
