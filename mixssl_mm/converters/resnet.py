# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Convert torchvision and DINO ResNet weights into an mmpretrain ``ResNet``
checkpoint: the logic behind ``tools/model_converters/resnet_to_mmpretrain.py``
(which adds only the command line), and the hints the training pre-flight
gives for an unconverted file (:func:`unconverted_source`,
:func:`converter_command`).

Accepted sources (all read with ``weights_only=True``):

- a torchvision ResNet-18/34/50/101/152 state dict (``conv1.weight``,
  ``bn1.running_mean``, ``layer1.0.downsample.0.weight``, ``fc.weight``,
  ...), plain or under ``state_dict``/``model``, with or without the
  ``module.`` prefix of ``DataParallel``;
- DINO's ResNet-50 release, ``dino_resnet50_pretrain.pth``: the same layout,
  without ``fc.*``;
- DINO's full training checkpoint (``checkpoint.pth`` or
  ``dino_resnet50_pretrain_full_checkpoint.pth``): the ``teacher`` (default,
  the network DINO releases) or ``student`` entry, keys under
  ``module.backbone.`` / ``backbone.``; its projection head (``head.*``) is
  dropped. Its ``args`` entry is an ``argparse.Namespace``, the one type
  allowed here beyond torch's weights-only defaults (a plain attribute bag;
  it runs no code).

mmpretrain's ``ResNet`` uses torchvision's parameter names, so the conversion
only selects the backbone keys and puts them under ``backbone.``. What makes
it safe is the check: every key and shape must match an mmpretrain
``ResNet`` of the detected (or given) depth, or nothing is written. The
output, ``{'state_dict': {'backbone.' + k: v}, 'meta': {...}}`` of plain
tensors, ints and strings, loads with ``weights_only=True`` through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')`` and
through ``load_from``.
"""
import argparse
import os.path as osp
import pickle
import re
from typing import Dict, List, Optional, Sequence, Tuple

from mixssl_mm.utils.checkpoint import (compare_keys, format_keys,
                                        mismatch_lines, refused_global,
                                        unpickler_reason)
from mixssl_mm.utils.hashing import file_hash

CONVERTER = 'tools/model_converters/resnet_to_mmpretrain.py'
DOC = 'docs/model_converters.md'
TORCHVISION_R50_URL = ('https://download.pytorch.org/models/'
                       'resnet50-0676ba61.pth')
DINO_R50_URL = ('https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/'
                'dino_resnet50_pretrain.pth')
DINO_R50_FULL_URL = ('https://dl.fbaipublicfiles.com/dino/'
                     'dino_resnet50_pretrain/'
                     'dino_resnet50_pretrain_full_checkpoint.pth')

# depth -> (block, blocks per stage); torchvision's and mmpretrain's tables
ARCHS = {
    18: ('BasicBlock', (2, 2, 2, 2)),
    34: ('BasicBlock', (3, 4, 6, 3)),
    50: ('Bottleneck', (3, 4, 6, 3)),
    101: ('Bottleneck', (3, 4, 23, 3)),
    152: ('Bottleneck', (3, 8, 36, 3)),
}
# top-level parts of a source that are not the backbone: torchvision's
# classifier, DINO's projection head (and mmpretrain's neck/head when an
# mmpretrain checkpoint is converted again)
DROPPED_PARTS = ('fc', 'head', 'neck', 'data_preprocessor')


class ConversionError(ValueError):
    """A source or destination the converter refuses; the message names the
    cause and the fix. Raised before anything is written."""


def where_to_get_weights() -> str:
    return ("torchvision's ResNet-50 (ResNet50_Weights.IMAGENET1K_V1): "
            f'{TORCHVISION_R50_URL} (other depths: torchvision.models.'
            'ResNet<depth>_Weights.IMAGENET1K_V1.url); DINO\'s ResNet-50 '
            f'(README of github.com/facebookresearch/dino): {DINO_R50_URL} '
            f'(backbone only) or {DINO_R50_FULL_URL} (full checkpoint)')


# --------------------------------------------------------------------------
# reading the source
# --------------------------------------------------------------------------
def load_source(src: str):
    """``torch.load`` with ``weights_only=True``; ``argparse.Namespace`` (the
    ``args`` of a DINO training checkpoint) is the one extra type."""
    import torch
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(src, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        what = refused_global(text)
        if what is None:  # not a pickle at all, or a damaged one
            reason = unpickler_reason(text) or text.splitlines()[0]
            raise ConversionError(
                f'{src} cannot be read as a torch checkpoint: {reason}'
            ) from None
        module = ('; it is a pickled module, not a state dict: save '
                  'model.state_dict() instead' if 'torch.nn.modules' in text
                  or 'models.resnet' in text else '')
        raise ConversionError(
            f'{src} needs {what} to be loaded, which weights-only loading '
            f'refuses (it could run code){module}. Give a state dict of '
            'tensors, e.g. the official files: ' + where_to_get_weights() +
            '.') from None
    except Exception as e:  # noqa: B902  a file that is no checkpoint fails
        # anywhere in the unpickler ('text' -> IndexError: pop from empty list)
        lines = str(e).splitlines() or ['']
        raise ConversionError(
            f'{src} cannot be read as a torch checkpoint (it is none, or it '
            f'is damaged or cut short): {type(e).__name__}: {lines[0]}'
        ) from None


def _is_tensor_dict(obj) -> bool:
    import torch
    return (isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor)
        for k, v in obj.items()))


def _strip(state: dict, prefix: str) -> dict:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _describe(obj) -> str:
    if isinstance(obj, dict):
        items = list(obj.items())[:6]
        inner = ', '.join(f'{k!r}: {type(v).__name__}' for k, v in items)
        more = ', ...' if len(obj) > len(items) else ''
        return f'a dict {{{inner}{more}}}'
    return f'a {type(obj).__name__}'


def extract_backbone(obj,
                     src: str,
                     src_format: str = 'auto',
                     dino_key: str = 'teacher') -> Tuple[Dict, str, List[str]]:
    """``(backbone state dict, detected format, dropped keys)`` of a loaded
    source. Keys keep torchvision's names, without any prefix."""
    is_dino_full = isinstance(
        obj, dict) and ('teacher' in obj
                        or 'student' in obj) and not _is_tensor_dict(obj)
    if is_dino_full:
        if src_format == 'torchvision':
            raise ConversionError(
                f'{src} is a DINO training checkpoint (it has '
                f'{sorted(k for k in obj if k in ("teacher", "student"))} '
                'entries), not a torchvision state dict; use --src-format '
                'dino (or auto).')
        if dino_key not in obj:
            raise ConversionError(
                f'{src} has no {dino_key!r} entry (it has '
                f'{sorted(map(str, obj))}); choose another --dino-key.')
        state, fmt = obj[dino_key], 'dino'
        if not _is_tensor_dict(state):
            raise ConversionError(
                f'{src}: its {dino_key!r} entry is {_describe(state)}, not a '
                'state dict of tensors.')
    else:
        state = obj
        for wrapper in ('state_dict', 'model'):
            if (isinstance(state, dict) and not _is_tensor_dict(state)
                    and _is_tensor_dict(state.get(wrapper))):
                state = state[wrapper]
                break
        if not _is_tensor_dict(state):
            raise ConversionError(
                f'{src} is not a state dict: it holds {_describe(obj)}. '
                'Give a state dict of tensors (torchvision: '
                'torch.save(model.state_dict(), path)) or a DINO training '
                'checkpoint with teacher/student entries.')
        fmt = 'torchvision' if src_format == 'auto' else src_format
    state = _strip(dict(state), 'module.')
    if any(k.startswith('backbone.') for k in state):
        # DINO's MultiCropWrapper (and mmpretrain) keep the network there
        dropped = sorted(
            k for k in state if not k.startswith('backbone.')
            and k.split('.')[0] in DROPPED_PARTS)
        state = {
            (k[9:] if k.startswith('backbone.') else k): v
            for k, v in state.items() if k not in dropped
        }
    else:
        dropped = []
    # torchvision's classifier (DINO replaces it with Identity: no keys)
    fc = sorted(k for k in state if k.split('.')[0] == 'fc')
    state = {k: v for k, v in state.items() if k not in fc}
    return state, fmt, dropped + fc


# --------------------------------------------------------------------------
# checking the layout
# --------------------------------------------------------------------------
def resnet_layout(keys: Sequence[str]) -> Optional[Tuple[str, tuple]]:
    """``(block type, blocks per stage)`` read off torchvision-style keys, or
    None when they are not a ResNet's."""
    keys = set(keys)
    if 'conv1.weight' not in keys or 'layer1.0.conv1.weight' not in keys:
        return None
    block = ('Bottleneck' if 'layer1.0.conv3.weight' in keys else 'BasicBlock')
    counts = []
    for stage in range(1, 5):
        found = {
            int(m.group(1))
            for k in keys
            for m in [re.match(rf'layer{stage}\.(\d+)\.', k)] if m
        }
        if not found:
            return None
        counts.append(max(found) + 1)
    return block, tuple(counts)


def depth_of(layout: Tuple[str, tuple]) -> Optional[int]:
    for depth, arch in ARCHS.items():
        if arch == (layout[0], tuple(layout[1])):
            return depth
    return None


def likely_cause(keys: Sequence[str]) -> str:
    """A guess at what a checkpoint that is not a ResNet's holds."""
    keys = list(keys)
    joined = ' '.join(keys)
    if re.search(r'(^| )(cls_token|pos_embed|patch_embed\.)', joined) or \
            re.search(r'(^| )blocks\.\d+\.attn\.', joined):
        return ('this looks like a ViT checkpoint (cls_token, pos_embed, '
                'blocks.N.attn), e.g. one of DINO\'s ViT releases; this tool '
                'converts ResNets only.')
    if re.search(r'(^| )stem\.\d', joined):
        return ('this looks like a deep-stem ResNet (ResNetV1c/V1d, keys '
                'stem.N); only the torchvision stem (conv1 7x7) is '
                'supported.')
    if re.search(r'(^| )features\.\d', joined):
        return ('this looks like a torchvision VGG/DenseNet/MobileNet '
                '(features.N), not a ResNet.')
    nested = sorted({
        k[:-len('conv1.weight')]
        for k in keys if k.endswith('.conv1.weight')
        and not re.search(r'layer\d\.\d+\.conv1\.weight$', k)
    })
    if nested:
        return (f'the ResNet keys sit under the prefix {nested[0]!r} (e.g. '
                "MoCo's encoder_q.); this tool reads torchvision keys at the "
                "top level or under DINO's module.backbone. / backbone.")
    return ('these are not the keys of a torchvision-style ResNet '
            '(conv1, bn1, layer1-4).')


def _keys_line(label: str, keys: List[str]) -> str:
    return '\n' + format_keys(label, keys)


def mmpretrain_resnet_state(depth: int) -> dict:
    from mmpretrain.models import ResNet
    return ResNet(depth=depth).state_dict()


def check_against_mmpretrain(
        state: dict,
        src: str,
        depth: Optional[int] = None) -> Tuple[dict, int, int]:
    """``(complete state dict, depth, filled keys)``: every key and shape of
    ``state`` must be those of an mmpretrain ``ResNet(depth)``. Missing
    BatchNorm ``num_batches_tracked`` counters (old torchvision files) are
    filled with 0, as torch does when it loads such a file."""
    layout = resnet_layout(state)
    if layout is None:
        absent = [
            k for k in ('conv1.weight', 'layer1.0.conv1.weight')
            if k not in state
        ]
        raise ConversionError(
            f'{src} does not hold a ResNet: {likely_cause(state)}' +
            _keys_line('keys', sorted(state)) +
            (_keys_line('missing', absent) if absent else ''))
    found = depth_of(layout)
    if depth is None:
        if found is None:
            raise ConversionError(
                f'{src}: a ResNet with {layout[0]} blocks {layout[1]} per '
                'stage matches none of depths ' +
                ', '.join(f'{d} {a[0]} {a[1]}' for d, a in ARCHS.items()) +
                '; it is not a standard ResNet.')
        depth = found
    elif found != depth:
        what = f'ResNet-{found}' if found else 'not a standard ResNet'
        fix = (f' Pass --depth {found} or leave --depth out.' if found else '')
        raise ConversionError(
            f'{src} has {layout[0]} blocks {layout[1]} per stage ({what}), '
            f'but --depth {depth} needs {ARCHS[depth][0]} blocks '
            f'{ARCHS[depth][1]}.{fix}')
    ref = mmpretrain_resnet_state(depth)
    missing, unexpected, shapes = compare_keys(ref, state)
    sides = dict(checkpoint='SRC', model=f'mmpretrain ResNet-{depth}')
    if missing or unexpected:
        raise ConversionError(
            f'{src} does not match mmpretrain ResNet-{depth}: '
            f'{likely_cause(unexpected or missing)}\n' +
            mismatch_lines(missing, unexpected, [], **sides).rstrip('\n'))
    if shapes:
        raise ConversionError(
            f'{src} has the keys of ResNet-{depth} but other shapes (a Wide '
            'ResNet or ResNeXt, or a different width? only plain ResNets '
            'are supported):\n' +
            mismatch_lines([], [], shapes, **sides).rstrip('\n'))
    import torch
    out, filled = {}, 0
    for k, v in ref.items():  # mmpretrain's key order
        if k in state:
            out[k] = state[k]
        else:  # a num_batches_tracked counter
            out[k] = torch.zeros((), dtype=v.dtype)
            filled += 1
    return out, depth, filled


# --------------------------------------------------------------------------
# hints for the training pre-flight (mixssl_mm.preflight.checkpoints)
# --------------------------------------------------------------------------
def unconverted_source(checkpoint) -> Optional[str]:
    """What an unconverted torchvision/DINO file is, or None: a DINO
    training checkpoint, or a torchvision-layout ResNet state dict whose keys
    carry no ``backbone.`` prefix."""
    if not isinstance(checkpoint, dict):
        return None
    if ('teacher' in checkpoint or 'student' in checkpoint) and \
            not _is_tensor_dict(checkpoint):
        return 'a DINO training checkpoint (teacher/student entries)'
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return None
    state = _strip(state, 'module.')
    if any(str(k).startswith('backbone.') for k in state):
        return None
    layout = resnet_layout([str(k) for k in state])
    if layout is None:
        return None
    depth = depth_of(layout)
    name = f'ResNet-{depth}' if depth else 'ResNet'
    return (f'an unconverted torchvision-layout {name} state dict '
            '(torchvision weights or DINO\'s dino_resnet50_pretrain.pth: '
            'conv1.weight, layer1.0..., no backbone. prefix)')


def converter_command(src: str, dst: Optional[str] = None) -> str:
    if dst is None:
        stem = osp.splitext(osp.basename(src))[0]
        dst = osp.join('checkpoints', f'{stem}_mmpretrain.pth')
    return f'python {CONVERTER} {src} {dst}'


# --------------------------------------------------------------------------
# the conversion
# --------------------------------------------------------------------------
def check_paths(src: str, dst: str, force: bool) -> None:
    if not osp.isfile(src):
        raise ConversionError(
            f'SRC {src}: no such file. This tool downloads nothing; get the '
            f'weights first: {where_to_get_weights()}.')
    if osp.isdir(dst):
        raise ConversionError(
            f'DST {dst} is a directory; give a file path, e.g. '
            f'{osp.join(dst, "dino_resnet50_mmpretrain.pth")}.')
    if osp.exists(dst) and osp.samefile(src, dst):
        raise ConversionError(f'DST {dst} is SRC; write to another file.')
    if osp.exists(dst) and not force:
        raise ConversionError(
            f'DST {dst} already exists; pass --force to replace it.')


def convert(src: str,
            dst: str,
            src_format: str = 'auto',
            dino_key: str = 'teacher',
            depth: Optional[int] = None,
            force: bool = False) -> dict:
    """Convert ``src`` and write ``dst`` (atomically: a temporary file, then
    ``os.replace``). Every check runs before anything is written. Returns
    the written ``meta``."""
    src, dst = osp.expanduser(src), osp.expanduser(dst)
    check_paths(src, dst, force)
    obj = load_source(src)
    state, fmt, dropped = extract_backbone(obj, src, src_format, dino_key)
    state, depth, filled = check_against_mmpretrain(state, src, depth)
    meta = dict(
        converter=CONVERTER,
        source=osp.basename(src),
        source_sha256=file_hash(src, 'sha256'),
        src_format=fmt,
        arch=f'ResNet-{depth}',
        depth=depth,
        dropped_keys=dropped,
        filled_num_batches_tracked=filled)
    if isinstance(obj, dict) and fmt == 'dino' and ('teacher' in obj
                                                    or 'student' in obj):
        meta['dino_key'] = dino_key
    from mixssl_mm.compat import atomic_torch_save
    try:  # removes its temporary file when it fails
        atomic_torch_save(
            dict(
                state_dict={
                    f'backbone.{k}': v
                    for k, v in state.items()
                },
                meta=meta), dst)
    except OSError as e:
        raise ConversionError(f'cannot write DST {dst}: {e}') from None
    meta['num_keys'] = len(state)
    return meta
