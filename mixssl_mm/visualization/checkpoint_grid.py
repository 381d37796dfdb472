# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The pretext-task grid of a trained MixSSL checkpoint (what
``tools/visualization/vis_mixssl.py`` runs): the first batch of the config's
training loader, mixed with λ per sample, through the checkpoint's encoder,
decoder and λ head exactly as :class:`MixSSLVisualizationHook` draws it
during training (train-mode BatchNorm on the whole training batch, the
hook's own λ generator)."""
import argparse
import copy
import os.path as osp
import re
from typing import Optional, Sequence, Tuple

import numpy as np

from mixssl_mm.utils.paths import file_in_the_way


def draw_checkpoint_grid(
        config,
        checkpoint: str,
        max_samples: int = 8,
        seed: int = 0,
        cfg_options: Optional[dict] = None,
        title: Optional[str] = None) -> Tuple[np.ndarray, dict]:
    """Draw the grid of a MixSSL checkpoint on its config's training data.

    Args:
        config (str | mmengine.Config): The model's config (the file a
            training run dumped into its work dir is the safest choice).
        checkpoint (str): A checkpoint of that model (``epoch_*.pth`` /
            ``iter_*.pth``); loaded strictly.
        max_samples (int): Rows of the grid (the first samples of the
            batch; the whole batch goes through the encoder, as in
            training, so BatchNorm sees the training batch size).
        seed (int): Seed of the loader's shuffling and of the hook's λ
            generator.
        cfg_options (dict, optional): Overrides merged into the config.
        title (str, optional): Written above the grid.

    Returns:
        tuple: ``(grid, info)``: the ``(H, W, 3)`` uint8 RGB picture and a
        dict with ``lam`` and ``lam_pred`` (``(max_samples,)`` float arrays;
        ``lam_pred`` is None without objective T) and ``l1`` (mean |λ̂ − λ|
        of the drawn rows, or None).

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        TypeError: the config's model is not a MixSSL model.
        RuntimeError: the checkpoint does not match the model (keys listed,
            and the config to use instead).
        ValueError: the file cannot be read as a checkpoint.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint, set_random_seed
    from mmpretrain.registry import MODELS

    import mixssl_mm  # noqa: F401  (registers the components)
    from mixssl_mm.engine.hooks import MixSSLVisualizationHook
    from mixssl_mm.utils import runner_model_cfg

    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'checkpoint {checkpoint!r} does not exist; pass the .pth a '
            'MixSSL training run saved in its work dir.')
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(runner_model_cfg(cfg))
    if not hasattr(model, 'forward_mix'):
        raise TypeError(
            f'the config builds {type(model).__name__}, not a MixSSL model '
            '(MixSSL, MixSSLContrast or MixSSLAux): the grid draws '
            "MixSSL's pretext task only.")
    try:
        load_checkpoint(
            model, checkpoint, map_location='cpu', strict=True, logger=None)
    except Exception as err:  # noqa: B902  a file that is no checkpoint
        # mmengine's strict load: 'The model and loaded state dict do not
        # match exactly', torch's: '... in loading state_dict ...'
        if isinstance(err, RuntimeError) and re.search(r'state[ _]dict',
                                                       str(err)):
            raise RuntimeError(
                f'checkpoint {checkpoint!r} does not fit the model of this '
                'config (use the config the run dumped into its work dir, '
                f'with the same depth and widths): {err}') from None
        lines = str(err).splitlines() or ['']
        raise ValueError(
            f'checkpoint {checkpoint!r} cannot be read as a checkpoint (it '
            'is none, or it is damaged or cut short): '
            f'{type(err).__name__}: {lines[0]}') from None

    # the pipeline's crops and photo draws use python/numpy/torch's global
    # generators: seeded, so the same command draws the same grid
    set_random_seed(seed)
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    batch = next(iter(loader))
    hook = MixSSLVisualizationHook(max_samples=max_samples, seed=seed)
    out = hook.run_batch(model, batch, step=None)
    grid = hook.draw(model, out, title=title)
    lam, lam_pred = hook.last_lam, hook.last_lam_pred
    l1 = None if lam_pred is None else float(np.abs(lam_pred - lam).mean())
    return grid, dict(lam=lam, lam_pred=lam_pred, l1=l1)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description="Draw a trained MixSSL checkpoint's pretext task: "
        'target / photo / mix / reconstruction with λ and λ̂ per row, on the '
        "first batch of the config's training data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'config', help='the config the run dumped into its work dir')
    parser.add_argument('checkpoint', help='the checkpoint (.pth)')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument(
        '--max-samples', type=int, default=8, help='rows of the grid')
    parser.add_argument(
        '--seed', type=int, default=0, help='loader and λ seed')
    parser.add_argument('--title', default=None, help='text above the grid')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='overrides of the config, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Command line of ``tools/visualization/vis_mixssl.py``."""
    from PIL import Image

    from mixssl_mm.compat import apply_compat_fixes

    args = parse_args(argv)
    if args.max_samples < 1:
        raise SystemExit('--max-samples must be >= 1')
    if not osp.isfile(args.config):
        raise SystemExit(f'config {args.config}: no such file; pass the '
                         'config the run dumped into its work dir.')
    # the picture is written last: a bad --out must not cost the run
    suffix = osp.splitext(args.out)[1].lower()
    writable = {
        ext
        for ext, fmt in Image.registered_extensions().items()
        if fmt in Image.SAVE
    }
    in_the_way = file_in_the_way(osp.dirname(osp.abspath(args.out)))
    if osp.isdir(args.out) or suffix not in writable:
        example = osp.join(args.out, 'grid.png') if osp.isdir(
            args.out) else osp.splitext(args.out)[0] + '.png'
        raise SystemExit(f'--out {args.out}: give an image file to write, '
                         f'e.g. {example} (.png, .jpg, ...).')
    if in_the_way is not None:
        raise SystemExit(f'--out {args.out}: {in_the_way} is a file, not a '
                         'folder.')
    apply_compat_fixes()
    grid, info = draw_checkpoint_grid(
        args.config,
        args.checkpoint,
        max_samples=args.max_samples,
        seed=args.seed,
        cfg_options=args.cfg_options,
        title=args.title)
    Image.fromarray(grid).save(args.out)
    lam_pred = info['lam_pred']
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]} px); λ: ' +
          ' '.join(f'{v:.2f}' for v in info['lam']))
    if lam_pred is not None:
        print('λ̂: ' + ' '.join(f'{v:.2f}' for v in lam_pred) +
              f'; mean |λ̂ − λ| = {info["l1"]:.3f}')
    return info
