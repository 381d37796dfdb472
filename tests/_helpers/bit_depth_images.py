"""Generated images of other bit depths and channel counts than 8-bit
colour, written the way cameras and converters write them (cv2 writes
uint16 PNG and TIFF as they are)."""
import os
import os.path as osp

import cv2
import numpy as np

# the brightest value of the reported 16-bit case
MAX_16BIT = 65444


def image_16bit(size: int = 40,
                seed: int = 0,
                channels: int = 3,
                max_value: int = MAX_16BIT) -> np.ndarray:
    """A random uint16 image whose brightest pixel is ``max_value``
    (H x W for ``channels=1``)."""
    rng = np.random.default_rng(seed)
    shape = (size, size + 8) + ((channels, ) if channels > 1 else ())
    img = rng.integers(0, max_value, shape, dtype=np.uint16)
    img.flat[0] = max_value
    return img


def write_16bit_folder(root,
                       n: int,
                       ext: str = '.png',
                       size: int = 40,
                       channels: int = 3,
                       seed: int = 0) -> str:
    """``n`` uint16 images (``.png`` or ``.tif``) at the top of ``root``;
    returns ``root``."""
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        img = image_16bit(size, seed + i, channels)
        assert cv2.imwrite(osp.join(root, f'{i:03d}{ext}'), img)
    return str(root)
