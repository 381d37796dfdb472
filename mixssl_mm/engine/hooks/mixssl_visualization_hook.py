# Copyright (c) mixssl_mm contributors. All rights reserved.
from typing import Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mixssl_mm.models.utils import sample_beta
from mixssl_mm.visualization import draw_mixssl_grid, to_rgb_uint8


@HOOKS.register_module()
class MixSSLVisualizationHook(Hook):
    """Draw MixSSL's pretext task on the current training batch.

    Every ``interval`` training iterations (and at the last one when
    ``draw_last`` is True) the hook re-runs :meth:`MixSSL.forward_mix` on
    the batch that was just trained on, under ``torch.no_grad()``, and rank
    0 draws a grid: one row per sample (at most ``max_samples``), columns
    *target / auxiliary / mixed / reconstruction*, with the true λ and the
    head's prediction λ̂ written beside each row. The images are
    denormalised with the data preprocessor's ``mean``/``std`` and shown in
    RGB. The hook collects; the drawing is
    :func:`mixssl_mm.visualization.draw_mixssl_grid`.

    λ̂ is computed the way it is trained: the model stays in train mode, so
    BatchNorm normalises with the statistics of the whole training batch
    (all of it goes through the encoder, the first ``max_samples`` rows are
    drawn); the BN running statistics are saved before and restored after,
    so training is not changed. Every rank runs the forward pass (SyncBN
    layers communicate in train mode); rank 0 draws.

    λ is drawn per sample, so that rows differ, from Beta(α, α) with the
    model's α (or its ``fixed_lam``) by a generator of the hook's own
    (seeded with ``seed`` and the step): the model's λ generator and
    torch's global random state are untouched, so training sees exactly the
    λ sequence it would see without the hook. In ``lam_mode='batch'`` the
    drawing therefore shows how the head copes with per-sample λ.

    The grid goes to ``runner.visualizer.add_image(name, grid,
    step=runner.iter + 1)``, i.e. to every vis backend of the config:
    ``LocalVisBackend`` (the default) writes
    ``<work_dir>/<timestamp>/vis_data/vis_image/<name>_<step>.png``,
    ``TensorboardVisBackend`` adds an image summary.

    Without objective R (``use_rec=False``) the reconstruction column is
    left blank; without objective T (``use_trans=False``) there is no λ
    regressor and λ̂ is shown as "n/a".

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
        seed (int): Seed of the hook's λ generator (the step is added).
            Defaults to 0.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 500,
                 max_samples: int = 8,
                 enable: bool = True,
                 name: str = 'mixssl_reconstruction',
                 draw_last: bool = True,
                 min_tile_size: int = 128,
                 seed: int = 0):
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
        self.seed = int(seed)
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
        if not self.enable or data_batch is None:
            return
        if not (self.every_n_train_iters(runner, self.interval) or
                (self.draw_last and self.is_last_train_iter(runner))):
            return
        step = runner.iter + 1
        # every rank runs the forward pass (SyncBN), rank 0 draws
        out = self.run_batch(runner.model, data_batch, step=step)
        if is_main_process():
            image = self.draw(runner.model, out, step=step)
            runner.visualizer.add_image(self.name, image, step=step)

    # ------------------------------------------------------------------
    def hook_lam(self, model, batch_size: int, device: torch.device,
                 step: Optional[int]) -> torch.Tensor:
        """Per-sample λ ~ Beta(α, α) of the model's α (or its fixed λ),
        from the hook's own generator."""
        sampler = model.lam_sampler
        if sampler.fixed_lam is not None:
            return torch.full((batch_size, ), sampler.fixed_lam, device=device)
        g = torch.Generator().manual_seed(self.seed + (step or 0))
        return sample_beta(sampler.alpha, batch_size, g,
                           torch.device('cpu')).to(device)

    def run_batch(self,
                  model,
                  data_batch: dict,
                  step: Optional[int] = None) -> dict:
        """Run the pretext task on ``data_batch`` as in training (see the
        class notes) and return :meth:`MixSSL.forward_mix`'s output for the
        first ``max_samples`` samples, with ``rec`` in the normalised input
        space and ``lam_pred`` (None without objective T)."""
        model = self._unwrap(model)
        was_training = model.training
        device = next(model.parameters()).device
        rng_devices = []
        if device.type == 'cuda':
            rng_devices = [
                torch.cuda.current_device()
                if device.index is None else device.index
            ]
        bn_state = {
            name: buf.clone()
            for name, buf in model.named_buffers()
            if name.rsplit('.', 1)[-1] in _BN_BUFFERS
        }
        model.train()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=rng_devices):
                inputs = model.data_preprocessor(data_batch, True)['inputs']
                lam = self.hook_lam(model, inputs[0].size(0), device, step)
                out = model.forward_mix(inputs, lam=lam)
                # without objective T there is no head (it is not built)
                lam_pred = (
                    model.head(out['feats']) if getattr(
                        model, 'use_trans', True) else None)
        finally:
            buffers = dict(model.named_buffers())
            with torch.no_grad():
                for name, value in bn_state.items():
                    buffers[name].copy_(value)
            model.train(was_training)
        n = self.max_samples
        if 'rec' in out:  # drawn like the inputs
            out['rec'] = model.rec_head.to_input_space(
                out['rec'], out['target'], model.pixel_stats(out['target']))
        res = {
            key: out[key][:n]
            for key in ('target', 'aux', 'mixed', 'rec', 'lam') if key in out
        }
        res['lam_pred'] = None if lam_pred is None else lam_pred[:n]
        return res

    def draw(self,
             model,
             out: dict,
             step: Optional[int] = None,
             title: Optional[str] = None) -> np.ndarray:
        """The grid of :meth:`run_batch`'s output as an ``(H, W, 3)`` uint8
        RGB array, titled ``title`` (default: ``iter <step>``, or none)."""
        pre = self._unwrap(model).data_preprocessor
        imgs = {
            key: to_rgb_uint8(out[key], pre)
            for key in ('target', 'aux', 'mixed', 'rec') if key in out
        }
        lam = out['lam'].detach().float().cpu().numpy().reshape(-1)
        lam_pred = out['lam_pred']
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
            title=title if title is not None else
            (None if step is None else f'iter {step}'),
            min_tile_size=self.min_tile_size)

    def visualize_batch(self,
                        model,
                        data_batch: dict,
                        step: Optional[int] = None) -> np.ndarray:
        """:meth:`run_batch` then :meth:`draw`: the grid of ``data_batch``
        as an ``(H, W, 3)`` uint8 RGB array."""
        return self.draw(model, self.run_batch(model, data_batch, step), step)


# BatchNorm's running statistics, restored after the hook's forward pass
_BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')
