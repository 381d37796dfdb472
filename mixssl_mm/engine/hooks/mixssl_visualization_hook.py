# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS
from mixssl_mm.visualization import draw_mixssl_grid, to_rgb_uint8


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
    and shown in RGB. The hook collects; the drawing is
    :func:`mixssl_mm.visualization.draw_mixssl_grid`.

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
        ``(H, W, 3)`` uint8 RGB array (drawn by
        :func:`~mixssl_mm.visualization.draw_mixssl_grid`)."""
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
                if 'rec' in out:  # drawn like the inputs (rec_space)
                    out['rec'] = model.from_rec_space(out['rec'])
                # without objective T there is no head (it is not built)
                use_trans = getattr(model, 'use_trans', True)
                lam_pred = model.head(out['feats']) if use_trans else None
        finally:
            model.train(was_training)

        imgs = {
            key: to_rgb_uint8(out[key], pre)
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
