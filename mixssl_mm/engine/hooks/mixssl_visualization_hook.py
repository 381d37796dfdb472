# Copyright (c) mixssl_mm contributors. All rights reserved.
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

COLUMNS = ('target', 'auxiliary', 'mixed', 'reconstruction')


@HOOKS.register_module()
class MixSSLVisualizationHook(Hook):
    """Draw MixSSL's pretext task on the current training batch.

    Every ``interval`` training iterations (and at the last one when
    ``draw_last`` is True), on rank 0 only, the hook re-runs
    :meth:`MixSSL.forward_mix` on the batch that was just trained on — under
    ``torch.no_grad()``, with the model briefly in eval mode (BN running
    statistics) — and draws a grid: one row per sample (at most
    ``max_samples``), columns *target / auxiliary / mixed / reconstruction*,
    with the true λ and the head's prediction λ̂ written beside each row.
    The images are denormalised with the data preprocessor's ``mean``/``std``
    and shown in RGB.

    The grid goes to ``runner.visualizer.add_image(name, grid,
    step=runner.iter + 1)``, i.e. to every vis backend of the config:
    ``LocalVisBackend`` (the default) writes
    ``<work_dir>/<timestamp>/vis_data/vis_image/<name>_<step>.png``,
    ``TensorboardVisBackend`` adds an image summary.

    Notes:
        - In the paper's ``lam_mode='batch'`` λ is drawn again for the
          drawing (torch's CPU random state is saved and restored around it,
          so training sees exactly the λ sequence it would see without the
          hook); it is therefore not the λ of the training step itself.
        - Without objective R (``use_rec=False``) the reconstruction column
          is left blank; without objective T (``use_trans=False``) there is
          no λ regressor and λ̂ is shown as "n/a".

    Args:
        interval (int): Draw every ``interval`` training iterations.
            Defaults to 500.
        max_samples (int): At most this many samples (rows) of the batch.
            Defaults to 8.
        enable (bool): Set False to switch the hook off. Defaults to True.
        name (str): The image name for the vis backends (the PNG file is
            ``<name>_<step>.png``). Defaults to ``'mixssl_reconstruction'``.
        draw_last (bool): Also draw at the last training iteration.
            Defaults to True.
        min_tile_size (int): Images smaller than this are enlarged by an
            integer factor (nearest neighbour, pixels stay exact) until their
            longer side reaches it. Defaults to 128.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 500,
                 max_samples: int = 8,
                 enable: bool = True,
                 name: str = 'mixssl_reconstruction',
                 draw_last: bool = True,
                 min_tile_size: int = 128):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError('MixSSLVisualizationHook: interval must be an '
                             f'int >= 1, got {interval!r}.')
        if not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError('MixSSLVisualizationHook: max_samples must be '
                             f'an int >= 1, got {max_samples!r}.')
        self.interval = interval
        self.max_samples = max_samples
        self.enable = enable
        self.name = name
        self.draw_last = draw_last
        self.min_tile_size = min_tile_size
        # λ and λ̂ of the last drawn grid (rows in order), for inspection.
        self.last_lam: Optional[np.ndarray] = None
        self.last_lam_pred: Optional[np.ndarray] = None

    @staticmethod
    def _unwrap(model):
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        if not self.enable:
            return
        model = self._unwrap(runner.model)
        if not hasattr(model, 'forward_mix'):
            raise TypeError(
                'MixSSLVisualizationHook needs a MixSSL model (with '
                f'forward_mix), but the model is {type(model).__name__}; '
                'remove the hook from custom_hooks.')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.enable or data_batch is None or not is_main_process():
            return
        if not (self.every_n_train_iters(runner, self.interval) or
                (self.draw_last and self.is_last_train_iter(runner))):
            return
        step = runner.iter + 1
        image = self.visualize_batch(runner.model, data_batch, step=step)
        runner.visualizer.add_image(self.name, image, step=step)

    # ------------------------------------------------------------------
    def visualize_batch(self, model, data_batch: dict,
                        step: Optional[int] = None) -> np.ndarray:
        """Run the pretext task on ``data_batch`` and return the grid as an
        ``(H, W, 3)`` uint8 RGB array."""
        model = self._unwrap(model)
        pre = model.data_preprocessor
        was_training = model.training
        device = next(model.parameters()).device
        rng_devices = []
        if device.type == 'cuda':
            rng_devices = [torch.cuda.current_device()
                           if device.index is None else device.index]
        model.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=rng_devices):
                data = pre(data_batch, False)
                inputs = [x[:self.max_samples] for x in data['inputs']]
                samples = data['data_samples']
                if samples is not None:
                    samples = samples[:self.max_samples]
                out = model.forward_mix(inputs, samples)
                # without objective T there is no head (it is not built)
                use_trans = getattr(model, 'use_trans', True)
                lam_pred = model.head(out['feats']) if use_trans else None
        finally:
            model.train(was_training)

        imgs = {
            key: self._to_uint8(out[key], pre)
            for key in ('target', 'aux', 'mixed', 'rec') if key in out
        }
        lam = out['lam'].detach().float().cpu().numpy().reshape(-1)
        if lam_pred is not None:
            lam_pred = lam_pred.detach().float().cpu().numpy().reshape(-1)
        self.last_lam = lam
        self.last_lam_pred = lam_pred
        return draw_mixssl_grid(
            imgs['target'],
            imgs['aux'],
            imgs['mixed'],
            imgs.get('rec'),
            lam,
            lam_pred,
            title=None if step is None else f'iter {step}',
            min_tile_size=self.min_tile_size)

    @staticmethod
    def _to_uint8(x: torch.Tensor, pre) -> np.ndarray:
        """Normalised (N, 3, H, W) model inputs -> (N, H, W, 3) uint8 RGB."""
        x = x.detach().float()
        if getattr(pre, '_enable_normalize', False):
            x = x * pre.std.to(x) + pre.mean.to(x)
        # The preprocessor converts the loaders' BGR (the mmcv convention) to
        # RGB when it is told to; otherwise the channels are still BGR.
        if not getattr(pre, '_channel_conversion', False):
            x = x.flip(1)
        x = x.clamp(0, 255).round().to(torch.uint8)
        return x.permute(0, 2, 3, 1).cpu().numpy()


def grid_layout(num_rows: int, tile_h: int, tile_w: int,
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
        size=(height, width), tile=tile, pad=pad, header=header,
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
        text(6, header / 2, title, fontsize=9, va='center', ha='left',
             color='0.3')
    for col, label in enumerate(COLUMNS):
        x = lay['tile'](0, col)[1] + tw / 2
        text(x, header / 2, label, fontsize=10, va='center', ha='center',
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
            text(x + tw / 2, y + th / 2, 'use_rec=False', fontsize=8,
                 va='center', ha='center', color='0.45')
    for row in range(n):
        y = lay['tile'](row, 0)[0] + th / 2
        pred = ('n/a' if lam_pred is None else f'{float(lam_pred[row]):.3f}')
        text(8, y - 10, rf'$\lambda$ = {float(lam[row]):.3f}', fontsize=10,
             va='center', ha='left')
        text(8, y + 10, rf'$\hat{{\lambda}}$ = {pred}', fontsize=10,
             va='center', ha='left', color='tab:blue')
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())[..., :3]
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    hh, ww = min(height, buf.shape[0]), min(width, buf.shape[1])
    out[:hh, :ww] = buf[:hh, :ww]
    return out
