"""The MixSSL grid drawing: denormalised RGB tiles pasted pixel-exactly
where grid_layout says, enlarged by an integer factor, with a blank
reconstruction column when there is none."""
import numpy as np
import torch
from mmpretrain.registry import MODELS

from mixssl_mm.visualization import (COLUMNS, draw_mixssl_grid, grid_layout,
                                     to_rgb_uint8)


def test_to_rgb_uint8_undoes_the_preprocessor():
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (2, 3, 4, 5)).astype(np.float32)
    for to_rgb in (True, False):
        pre = MODELS.build(
            dict(
                type='SelfSupDataPreprocessor',
                mean=[10., 20., 30.],
                std=[2., 3., 4.],
                to_rgb=to_rgb))
        data = pre(
            dict(inputs=[torch.from_numpy(bgr)], data_samples=None), False)
        rgb = to_rgb_uint8(data['inputs'][0], pre)
        assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 5, 3)
        # the loaders' BGR comes back as RGB either way
        np.testing.assert_array_equal(
            rgb, bgr[:, ::-1].transpose(0, 2, 3, 1).astype(np.uint8))


def _images(n, h, w, seed):
    return np.random.default_rng(seed).integers(
        0, 256, (n, h, w, 3), dtype=np.uint8)


def test_grid_tiles_are_pasted_pixel_exactly_and_enlarged():
    n, h, w = 3, 20, 24
    target, aux, mixed, rec = (_images(n, h, w, s) for s in range(4))
    grid = draw_mixssl_grid(
        target,
        aux,
        mixed,
        rec,
        lam=[0.1, 0.5, 0.9],
        lam_pred=[0.2, 0.4, 0.8],
        title='iter 7',
        min_tile_size=64)
    scale = 3  # ceil(64 / 24)
    lay = grid_layout(n, h * scale, w * scale)
    assert grid.shape == lay['size'] + (3, ) and grid.dtype == np.uint8
    assert len(COLUMNS) == 4
    for col, imgs in enumerate((target, aux, mixed, rec)):
        for row in range(n):
            y, x = lay['tile'](row, col)
            tile = grid[y:y + h * scale, x:x + w * scale]
            np.testing.assert_array_equal(
                tile, imgs[row].repeat(scale, 0).repeat(scale, 1))
    # the label column carries the text (not blank white)
    assert (grid[lay['header']:, :lay['label_w']] < 200).any()


def test_grid_without_reconstruction_has_a_blank_column():
    target, aux, mixed = (_images(2, 32, 32, s) for s in range(3))
    grid = draw_mixssl_grid(target, aux, mixed, None, lam=[0.3, 0.6])
    lay = grid_layout(2, 128, 128)  # 32 px x 4 = min_tile_size
    for row in range(2):
        y, x = lay['tile'](row, 3)
        tile = grid[y:y + 128, x:x + 128]
        # flat light grey, but for the 'use_rec=False' label in the middle
        assert np.all(tile[:20] == tile[0, 0]) and tile[0, 0, 0] > 200
        assert (tile[54:74] < tile[0, 0, 0]).any()
