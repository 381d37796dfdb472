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
or ``load_from=DST``. Details: ``mixssl_mm/converters/resnet.py`` and
docs/model_converters.md.
"""
import argparse
import sys

from mixssl_mm.converters.resnet import ARCHS, DOC, ConversionError, convert
from mixssl_mm.utils.cli_help import HelpFormatter


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        description='Convert a torchvision or DINO ResNet checkpoint into an '
        "mmpretrain ResNet checkpoint (keys under 'backbone.'), for "
        "init_cfg=dict(type='Pretrained', checkpoint=DST, "
        "prefix='backbone.') or load_from. Details: " + DOC)
    parser.add_argument(
        'src',
        help='torchvision state dict, DINO '
        'dino_resnet50_pretrain.pth or DINO checkpoint.pth')
    parser.add_argument(
        'dst',
        help='output path, e.g. '
        'checkpoints/dino_resnet50_mmpretrain.pth')
    parser.add_argument(
        '--src-format',
        choices=('auto', 'torchvision', 'dino'),
        default='auto',
        help='auto: a DINO training checkpoint when it has '
        'teacher/student entries, else a torchvision-layout state dict '
        "(which DINO's backbone release is)")
    parser.add_argument(
        '--dino-key',
        choices=('teacher', 'student'),
        default='teacher',
        help='network of a DINO training checkpoint (default: teacher, the '
        'one DINO releases)')
    parser.add_argument(
        '--depth',
        type=int,
        choices=sorted(ARCHS),
        default=None,
        help='ResNet depth to check against (default: read off the keys)')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing DST')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        meta = convert(args.src, args.dst, args.src_format, args.dino_key,
                       args.depth, args.force)
    except ConversionError as e:
        print(f'error: {e}\nNothing was written.', file=sys.stderr)
        return 1
    dropped = meta['dropped_keys']
    print(f'Converted {args.src} ({meta["src_format"]}' +
          (f', {meta["dino_key"]}' if 'dino_key' in meta else '') +
          f', {meta["arch"]}) -> {args.dst}: {meta["num_keys"]} keys '
          'under backbone.' +
          (f'; dropped {len(dropped)} non-backbone key(s) '
           f'({", ".join(dropped[:3])}{", ..." if len(dropped) > 3 else ""})'
           if dropped else '') +
          (f'; filled {meta["filled_num_batches_tracked"]} '
           'num_batches_tracked counters with 0'
           if meta['filled_num_batches_tracked'] else '') + '.')
    print("Use it with init_cfg=dict(type='Pretrained', checkpoint="
          f"'{args.dst}', prefix='backbone.') on model.backbone, or with "
          f'load_from={args.dst!r} (see {DOC}).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
