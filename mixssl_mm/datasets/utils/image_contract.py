# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The pixel contract of the images that ``CrossDomainMixup`` pairs: both
the target and the auxiliary image are on the 8-bit scale (0–255) with one
(gray) or three (colour) channels.

Why 0–255: mmpretrain's colour transforms, the data preprocessors' mean/std
(123.675, ...) and every shipped config work on that scale, and the
auxiliary photos are 8-bit. A 16-bit target (up to 65,535) mixed with an
8-bit photo would weight the target ~257 times more than the photo and give
a reconstruction loss ~10^5 times too large, without any error; a 0–1 float
image mixed with a 0–255 one is as wrong the other way. Such images are
refused at the moment of mixing, with the transform to add
(:class:`~mixssl_mm.datasets.transforms.ScaleToUint8`).

What counts as 0–255:

- ``uint8`` arrays;
- float arrays whose finite values lie in [0, 255], unless all of them lie
  in [0, 1] and one is fractional (a 0–1 image; ``LoadImageFromFile(
  to_float32=True)`` gives whole numbers, so even a black crop of it
  passes). NaN/inf are not judged here (``NonFiniteLossHook`` stops them).

Everything else is refused: other integer types (``uint16``, ``int16``,
``int32``, ``bool``) and floats outside [0, 255]. Channels: H x W, or
H x W x 1 / x 3; four channels (BGRA from ``LoadImageFromFile(
color_type='unchanged')``) are refused rather than guessed at.
"""
from typing import Optional

import numpy as np

__all__ = ['ImageContractError', 'image_contract_error', 'check_mixable']

GUIDE = "docs/getting_started.md, '16-bit, float and 4-channel images'"


class ImageContractError(ValueError):
    """An image ``CrossDomainMixup`` will not mix as it is; the message
    names the transform or option that makes it mixable."""


def _where(side: str) -> str:
    if side == 'target':
        return ('right after LoadImageFromFile in the target pipeline '
                '(train_dataloader.dataset.pipeline)')
    return ("right after LoadImageFromFile in the auxiliary pipeline "
            "(CrossDomainMixup's aux_pipeline, or the pipeline of its "
            'aux_dataset)')


def _bits_needed(max_value: int) -> int:
    return max(1, int(max_value).bit_length())


def _int_problem(img: np.ndarray, side: str) -> str:
    lo, hi = (int(img.min()), int(img.max())) if img.size else (0, 0)
    if img.dtype == np.bool_ or lo < 0:
        return (f'the {side} image is {img.dtype} (values {lo}..{hi}), '
                'not on the 8-bit scale (0–255) that MixSSL mixes. Map it '
                'to 0–255 first: add dict(type=\'ScaleToUint8\', '
                f'value_range=(LOW, HIGH), clip=True) {_where(side)}, with '
                'the window LOW..HIGH to show (e.g. a CT window in HU).')
    # a signed type's sign bit holds no intensity
    dtype_bits = img.dtype.itemsize * 8 - (
        np.issubdtype(img.dtype, np.signedinteger))
    hint = ''
    if _bits_needed(hi) < dtype_bits:
        hint = (f' (or the real bit depth of the data, if smaller: this '
                f'image\'s maximum {hi} fits bit_depth={_bits_needed(hi)})')
    return (f'the {side} image is {img.dtype} (values up to {hi}), not on '
            'the 8-bit scale (0–255) that MixSSL mixes (auxiliary photos, '
            "mmpretrain's colour transforms and the data preprocessor's "
            'mean/std all use it); mixed as it is, it would outweigh an '
            f'8-bit image by up to {(2 ** dtype_bits - 1) / 255:.0f}x. Add '
            f"dict(type='ScaleToUint8', bit_depth={dtype_bits}){hint} "
            f'{_where(side)}.')


def _float_problem(img: np.ndarray, side: str) -> Optional[str]:
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0 or hi > 255:
        return (f'the {side} image is {img.dtype} with values in '
                f'[{lo:g}, {hi:g}], not on the 8-bit scale (0–255) that '
                "MixSSL mixes. Add dict(type='ScaleToUint8', "
                f'value_range=({lo:g}, {hi:g})) {_where(side)} (with the '
                'range your data really has, the same for every image; '
                'clip=True to cut a window out of it).')
    if hi <= 1 and np.any(finite != np.round(finite)):
        return (f'the {side} image is a 0–1 {img.dtype} image (values in '
                f'[{lo:g}, {hi:g}]) but MixSSL mixes 8-bit-scale images '
                "(0–255). Add dict(type='ScaleToUint8', value_range=(0, 1)) "
                f'{_where(side)}.')
    return None


def _channel_problem(img: np.ndarray, side: str) -> Optional[str]:
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3)):
        return None
    if img.ndim == 3 and img.shape[2] == 4:
        return (f'the {side} image has 4 channels (BGRA: '
                "LoadImageFromFile(color_type='unchanged') keeps the alpha "
                'channel) but MixSSL mixes gray or 3-channel images. Load it '
                "with color_type='color' (8-bit files; cv2 drops the alpha "
                "channel), or keep 'unchanged' for 16-bit files and add "
                "dict(type='ScaleToUint8', drop_alpha=True) "
                f'{_where(side)}.')
    return (f'the {side} image has shape {tuple(img.shape)}; MixSSL mixes '
            'H x W (gray) or H x W x 3 (colour) images. Load it as gray or '
            "colour (LoadImageFromFile(color_type='grayscale' or 'color')).")


def image_contract_error(img, side: str) -> Optional[str]:
    """Why ``img`` cannot be mixed as it is, or None when it can.

    Args:
        img: the image as the pipeline hands it over (H x W or H x W x C).
        side: ``'target'`` or ``'auxiliary'``, named in the message (which
            also says where in the config the fix goes).

    Returns:
        A message naming the image's dtype / values / channels and the fix,
        or None for an 8-bit-scale gray or 3-channel image.
    """
    if not isinstance(img, np.ndarray):
        return (f'the {side} image is a {type(img).__name__}, not a numpy '
                'array (H x W x C); CrossDomainMixup needs the decoded image '
                '(put it after LoadImageFromFile and the image transforms, '
                'before PackInputs).')
    problem = _channel_problem(img, side)
    if problem is None and img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            problem = _float_problem(img, side)
        else:
            problem = _int_problem(img, side)
    return problem


def check_mixable(x_t, x_a) -> None:
    """Refuse a target / auxiliary pair unless both are gray or 3-channel
    images on the 8-bit scale (see the module docstring).

    Raises:
        ImageContractError: naming the side, its dtype / values / channels
            and the transform or option to add.
    """
    for img, side in ((x_t, 'target'), (x_a, 'auxiliary')):
        problem = image_contract_error(img, side)
        if problem:
            raise ImageContractError(f'CrossDomainMixup: {problem} ({GUIDE})')
