# Copyright (c) mixssl_mm contributors. All rights reserved.
import numbers
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


def _is_number(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool)
            and np.isfinite(x))


@TRANSFORMS.register_module()
class ScaleToUint8(BaseTransform):
    """Map a 16-bit, other-depth or float image to uint8 (0–255), the scale
    that ``CrossDomainMixup``, mmpretrain's colour transforms and the data
    preprocessors' mean/std work on.

    ``out = round((img - low) / (high - low) * 255)`` as ``uint8``, where
    ``(low, high)`` is

    - ``(0, 2 ** bit_depth - 1)`` for integer images: the *real* bit depth
      of the data (12 for a 12-bit camera writing 16-bit files, so its
      brightest value becomes 255, not 16). By default the dtype's: 16 for
      ``uint16``, 15 for ``int16``; ``uint8`` images pass unchanged;
    - ``value_range`` when given (any dtype; float images need it, e.g.
      ``(0, 1)`` for 0–1 images).

    Every image is scaled by the same fixed range, never by its own minimum
    and maximum, so intensities stay comparable across images.

    Place it right after ``LoadImageFromFile(color_type='unchanged')`` (the
    only mmcv colour mode that keeps 16 bits): the cv2 crops and flips work
    on any depth, but the colour transforms need uint8. Example for 16-bit
    PNG/TIFF targets::

        view = [dict(type='RandomResizedCrop', scale=224), ...]
        pipeline = [dict(type='LoadImageFromFile', color_type='unchanged'),
                    dict(type='ScaleToUint8', bit_depth=16), *view,
                    dict(type='CrossDomainMixup', ...),
                    dict(type='PackInputs', ...)]

    Required keys: ``img``. Modified keys: ``img`` (uint8, same H x W; the
    channels are kept, except an alpha channel with ``drop_alpha``).

    Args:
        bit_depth (int, optional): Real bit depth of integer images, 1..32.
            Defaults to the dtype's. Not for float images.
        value_range (tuple[float, float], optional): ``(low, high)`` mapped
            to ``(0, 255)``; instead of ``bit_depth``.
        clip (bool): Values outside the range: False (default) refuses the
            image, naming its values and the option to change (a wrong bit
            depth is a config error, not something to hide); True clips them
            (a window, e.g. of CT values in HU).
        drop_alpha (bool): Drop the 4th channel of 4-channel images (BGRA ->
            BGR, the rule cv2's colour loading follows). Defaults to False
            (``CrossDomainMixup`` refuses 4-channel images).

    Raises:
        ValueError: at build time, for bad arguments; per image, for values
            outside the range (without ``clip``), non-finite values, or a
            float image without ``value_range``.
    """

    def __init__(self,
                 bit_depth: Optional[int] = None,
                 value_range: Optional[Sequence[float]] = None,
                 clip: bool = False,
                 drop_alpha: bool = False):
        if bit_depth is not None and value_range is not None:
            raise ValueError('ScaleToUint8: give bit_depth or value_range, '
                             'not both.')
        if bit_depth is not None and not (
                isinstance(bit_depth, numbers.Integral)
                and not isinstance(bit_depth, bool) and 1 <= bit_depth <= 32):
            raise ValueError('ScaleToUint8: bit_depth must be an integer in '
                             f'1..32 (e.g. 16, or 12 for 12-bit data), got '
                             f'{bit_depth!r}.')
        if value_range is not None:
            if not (isinstance(value_range,
                               (list, tuple)) and len(value_range) == 2
                    and all(_is_number(v) for v in value_range)
                    and value_range[0] < value_range[1]):
                raise ValueError(
                    'ScaleToUint8: value_range must be (low, high) with '
                    f'finite numbers low < high, got {value_range!r}.')
            value_range = tuple(float(v) for v in value_range)
        self.bit_depth = None if bit_depth is None else int(bit_depth)
        self.value_range = value_range
        self.clip = bool(clip)
        self.drop_alpha = bool(drop_alpha)

    def _range(self, img: np.ndarray, name: str):
        """``(low, high, what)`` for ``img``; ``what`` names the setting in
        messages."""
        if self.value_range is not None:
            low, high = self.value_range
            return low, high, f'value_range=({low:g}, {high:g})'
        if not np.issubdtype(img.dtype, np.integer):
            raise ValueError(
                f'ScaleToUint8: {name} is a {img.dtype} image, which has no '
                'bit depth; give value_range=(LOW, HIGH), e.g. (0, 1) for '
                '0–1 images, the same range for every image.')
        bits = self.bit_depth or (img.dtype.itemsize * 8 -
                                  np.issubdtype(img.dtype, np.signedinteger))
        return 0, 2**bits - 1, f'bit_depth={bits}'

    def transform(self, results: dict) -> dict:
        img = results['img']
        name = results.get('img_path') or 'the image'
        if self.drop_alpha and img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        low, high, what = self._range(img, name)
        if img.dtype == np.uint8 and (low, high) == (0, 255):
            results['img'] = img
            return results
        if np.issubdtype(img.dtype,
                         np.floating) and not np.all(np.isfinite(img)):
            raise ValueError(f'ScaleToUint8: {name} has NaN or inf values.')
        if not self.clip and img.size:
            lo, hi = img.min(), img.max()
            if lo < low or hi > high:
                hint = ''
                if self.value_range is None and hi > high:
                    hint = f'bit_depth={int(hi).bit_length()} or more, '
                raise ValueError(
                    f'ScaleToUint8: {name} has values {lo}..{hi}, outside '
                    f'{low:g}..{high:g} ({what}). Set {hint}a value_range '
                    'that holds your data, or clip=True to clip to it.')
        out = (img.astype(np.float32) - low) * np.float32(255 / (high - low))
        results['img'] = np.rint(np.clip(out, 0, 255)).astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bit_depth={self.bit_depth}, '
                f'value_range={self.value_range}, clip={self.clip}, '
                f'drop_alpha={self.drop_alpha})')
