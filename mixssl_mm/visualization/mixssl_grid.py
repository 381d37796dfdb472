# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Drawing MixSSL's pretext task: a grid of target / auxiliary / mixed /
reconstruction tiles with λ and λ̂ per row (what
:class:`MixSSLVisualizationHook` hands its collected batch to). Registers
nothing; matplotlib is imported only when a grid is drawn."""
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

COLUMNS = ('target', 'auxiliary', 'mixed', 'reconstruction')


def to_rgb_uint8(x: torch.Tensor, data_preprocessor) -> np.ndarray:
    """Model inputs (N, 3, H, W), normalised by ``data_preprocessor`` (its
    ``mean``/``std`` when it normalises), -> (N, H, W, 3) uint8 RGB
    images."""
    x = x.detach().float()
    pre = data_preprocessor
    if getattr(pre, '_enable_normalize', False):
        x = x * pre.std.to(x) + pre.mean.to(x)
    # The preprocessor converts the loaders' BGR (the mmcv convention) to
    # RGB when it is told to; otherwise the channels are still BGR.
    if not getattr(pre, '_channel_conversion', False):
        x = x.flip(1)
    x = x.clamp(0, 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid_layout(
    num_rows: int, tile_h: int, tile_w: int,
    num_cols: int = len(COLUMNS)) -> Dict[str, object]:
    """Pixel geometry of :func:`draw_mixssl_grid`'s picture.

    Returns a dict with ``size`` (H, W) and ``tile(row, col)`` giving the
    ``(y0, x0)`` corner of a tile; a tile is ``tile_h x tile_w`` pixels."""
    pad, header, label_w = 4, 26, 104
    height = header + num_rows * (tile_h + pad) + pad
    width = label_w + num_cols * (tile_w + pad) + pad

    def tile(row: int, col: int) -> Tuple[int, int]:
        return (header + pad + row * (tile_h + pad),
                label_w + pad + col * (tile_w + pad))

    return dict(
        size=(height, width),
        tile=tile,
        pad=pad,
        header=header,
        label_w=label_w)


def draw_mixssl_grid(target: np.ndarray,
                     aux: np.ndarray,
                     mixed: np.ndarray,
                     rec: Optional[np.ndarray],
                     lam: Sequence[float],
                     lam_pred: Optional[Sequence[float]] = None,
                     title: Optional[str] = None,
                     min_tile_size: int = 128) -> np.ndarray:
    """Draw the MixSSL grid from (N, H, W, 3) uint8 RGB images.

    Rows are samples, columns target / auxiliary / mixed / reconstruction
    (``rec=None`` leaves that column blank); λ and λ̂ are written left of each
    row. The image tiles are pasted pixel-exactly (enlarged by an integer
    nearest-neighbour factor when smaller than ``min_tile_size``) and the
    text is drawn with matplotlib's Agg renderer. Returns an (H, W, 3) uint8
    RGB array; see :func:`grid_layout` for the geometry."""
    n, h, w = target.shape[:3]
    scale = max(1, math.ceil(min_tile_size / max(h, w)))
    th, tw = h * scale, w * scale
    lay = grid_layout(n, th, tw)
    height, width = lay['size']

    canvas = _render_text(n, lay, (th, tw), lam, lam_pred, title, rec is None)
    for col, imgs in enumerate((target, aux, mixed, rec)):
        for row in range(n):
            y, x = lay['tile'](row, col)
            if imgs is None:  # blank, drawn with the text
                continue
            tile = imgs[row]
            if scale > 1:
                tile = tile.repeat(scale, axis=0).repeat(scale, axis=1)
            canvas[y:y + th, x:x + tw] = tile
    return canvas


def _render_text(n, lay, tile_hw, lam, lam_pred, title, no_rec) -> np.ndarray:
    # Imported here: matplotlib is only needed when a grid is drawn, and the
    # Agg canvas is used directly so pyplot's global backend is untouched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    height, width = lay['size']
    th, tw = tile_hw
    dpi = 100
    # +0.25 px so that int(size_in_inches * dpi) cannot round down
    fig = Figure(
        figsize=((width + 0.25) / dpi, (height + 0.25) / dpi),
        dpi=dpi,
        facecolor='white')
    canvas = FigureCanvasAgg(fig)

    def text(x, y, s, **kw):  # x, y in pixels from the top-left corner
        fig.text(x / width, 1 - y / height, s, **kw)

    header = lay['header']
    if title:
        text(
            6,
            header / 2,
            title,
            fontsize=9,
            va='center',
            ha='left',
            color='0.3')
    for col, label in enumerate(COLUMNS):
        x = lay['tile'](0, col)[1] + tw / 2
        text(
            x,
            header / 2,
            label,
            fontsize=10,
            va='center',
            ha='center',
            weight='bold')
    if no_rec:  # blank reconstruction column
        for row in range(n):
            y, x = lay['tile'](row, 3)
            fig.add_artist(
                Rectangle((x / width, 1 - (y + th) / height),
                          tw / width,
                          th / height,
                          transform=fig.transFigure,
                          facecolor='0.92',
                          edgecolor='none'))
            text(
                x + tw / 2,
                y + th / 2,
                'use_rec=False',
                fontsize=8,
                va='center',
                ha='center',
                color='0.45')
    for row in range(n):
        y = lay['tile'](row, 0)[0] + th / 2
        pred = ('n/a' if lam_pred is None else f'{float(lam_pred[row]):.3f}')
        text(
            8,
            y - 10,
            rf'$\lambda$ = {float(lam[row]):.3f}',
            fontsize=10,
            va='center',
            ha='left')
        text(
            8,
            y + 10,
            rf'$\hat{{\lambda}}$ = {pred}',
            fontsize=10,
            va='center',
            ha='left',
            color='tab:blue')
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())[..., :3]
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    hh, ww = min(height, buf.shape[0]), min(width, buf.shape[1])
    out[:hh, :ww] = buf[:hh, :ww]
    return out
