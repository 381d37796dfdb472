"""MixSSLVisualizationHook inside a real mmengine Runner (tiny MixSSL, CPU)."""
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mixssl_mm.engine import MixSSLVisualizationHook
from mixssl_mm.visualization import grid_layout
from tests._helpers.mixssl_runner import mixssl_runner_cfg
from tests._helpers.models import MIXSSL_R18, build_model, mixssl_samples

TILE = 128  # 32-px crops are enlarged x4 (min_tile_size=128)


def _write_images(folder, n, seed, ext, reddish=False):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        # smooth-ish random images (a noise field blurred), 40 x 48
        img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        if reddish:  # (BGR on disk) so the grid's channel order is checked
            img[..., 2] = 128 + img[..., 2] // 2
            img[..., 0] //= 2
        cv2.imwrite(osp.join(folder, f'{i:02d}.{ext}'), img)
    return str(folder)


@pytest.fixture
def folders(tmp_path):
    target = _write_images(
        tmp_path / 'target', 8, seed=1, ext='png', reddish=True)
    aux = _write_images(tmp_path / 'aux', 8, seed=2, ext='jpg')
    return target, aux


def _cfg(work_dir,
         target_dir,
         aux_dir,
         custom_hooks,
         max_iters=2,
         use_rec=True):
    return mixssl_runner_cfg(
        work_dir,
        target_dir,
        aux_dir,
        custom_hooks,
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        model_overrides=dict(use_rec=use_rec),
        default_hooks=dict(
            checkpoint=None, logger=dict(type='LoggerHook', interval=1)))


def _vis_pngs(work_dir):
    return sorted(
        glob.glob(
            osp.join(str(work_dir), '*', 'vis_data', 'vis_image', '*.png')))


def _find_hook(runner, name):
    return next(
        h for h in runner.hooks
        if isinstance(h, MixSSLVisualizationHook) and h.name == name)


def _read_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _tiles(grid, num_rows, row):
    tile = grid_layout(num_rows, TILE, TILE)['tile']
    out = []
    for col in range(4):
        y, x = tile(row, col)
        out.append(grid[y:y + TILE, x:x + TILE].astype(np.float64))
    return out  # target, aux, mixed, rec


def test_hook_draws_grid(tmp_path, folders):
    work_dir = tmp_path / 'work'
    hooks = [
        dict(
            type='MixSSLVisualizationHook',
            interval=1,
            max_samples=4,
            name='vis4'),
        dict(
            type='MixSSLVisualizationHook',
            interval=1,
            max_samples=2,
            name='vis2'),
    ]
    runner = Runner.from_cfg(_cfg(work_dir, *folders, hooks))
    runner.train()
    assert runner.model.training  # the hook restored train mode

    names = [osp.basename(p) for p in _vis_pngs(work_dir)]
    assert names == ['vis2_1.png', 'vis2_2.png', 'vis4_1.png', 'vis4_2.png']
    pngs = {osp.basename(p): p for p in _vis_pngs(work_dir)}

    grid4 = _read_rgb(pngs['vis4_2.png'])
    grid2 = _read_rgb(pngs['vis2_2.png'])
    # Layout: 4 columns of 128-px tiles; one row per sample.
    assert grid4.shape[:2] == grid_layout(4, TILE, TILE)['size']
    assert grid2.shape[:2] == grid_layout(2, TILE, TILE)['size']
    assert grid4.shape[1] == grid2.shape[1]
    assert grid4.shape[0] - grid2.shape[0] == 2 * (TILE + 4)

    hook4 = _find_hook(runner, 'vis4')
    lam, lam_pred = hook4.last_lam, hook4.last_lam_pred
    assert lam.shape == lam_pred.shape == (4, )
    assert np.all((lam >= 0) & (lam <= 1))
    assert np.all((lam_pred >= 0) & (lam_pred <= 1))

    for row in range(4):
        t, a, m, r = _tiles(grid4, 4, row)
        # Tiles are x4 nearest-neighbour enlargements of the 32-px crops.
        assert np.array_equal(t[::4, ::4].repeat(4, 0).repeat(4, 1), t)
        # The 'mixed' column is (1 - λ)·target + λ·auxiliary up to rounding
        # (denormalisation is exact), with the λ the hook printed ...
        expect = (1 - lam[row]) * t + lam[row] * a
        assert np.abs(m - expect).max() <= 1.01
        # ... and that λ is what the pixels themselves say.
        d = (a - t).ravel()
        fit = float(np.dot((m - t).ravel(), d) / np.dot(d, d))
        assert abs(fit - lam[row]) < 0.02
        # Target and auxiliary are different images; the reconstruction is
        # a real picture, not blank and not a copy of a neighbour column.
        assert np.abs(t - a).mean() > 10
        # Shown in RGB: the reddish targets are red, not blue.
        assert t[..., 0].mean() > t[..., 2].mean() + 50
        assert r.std() > 1
        assert not np.array_equal(r, t) and not np.array_equal(r, m)

    # The first two rows of the 2-sample grid show the same batch.
    for row in range(2):
        for col4, col2 in zip(
                _tiles(grid4, 4, row)[:3],
                _tiles(grid2, 2, row)[:3]):
            np.testing.assert_array_equal(col4, col2)


def test_hook_disabled_draws_nothing(tmp_path, folders):
    work_dir = tmp_path / 'work'
    hooks = [dict(type='MixSSLVisualizationHook', interval=1, enable=False)]
    runner = Runner.from_cfg(_cfg(work_dir, *folders, hooks, max_iters=1))
    runner.train()
    assert runner.iter == 1
    assert _vis_pngs(work_dir) == []
    assert _find_hook(runner, 'mixssl_reconstruction').last_lam is None


def test_hook_without_reconstruction_draws_blank_column(tmp_path, folders):
    work_dir = tmp_path / 'work'
    hooks = [dict(type='MixSSLVisualizationHook', interval=1, max_samples=3)]
    runner = Runner.from_cfg(
        _cfg(work_dir, *folders, hooks, max_iters=1, use_rec=False))
    runner.train()
    pngs = _vis_pngs(work_dir)
    assert [osp.basename(p) for p in pngs] == ['mixssl_reconstruction_1.png']
    grid = _read_rgb(pngs[0])
    assert grid.shape[:2] == grid_layout(3, TILE, TILE)['size']
    for row in range(3):
        t, a, m, r = _tiles(grid, 3, row)
        lam = _find_hook(runner, 'mixssl_reconstruction').last_lam[row]
        assert np.abs(m - ((1 - lam) * t + lam * a)).max() <= 1.01
        # blank tile: a flat grey background (the label in its middle aside)
        assert np.all(r[:20] == r[0, 0]) and r[0, 0, 0] > 200


def test_hook_does_not_change_training(tmp_path, folders):
    """The drawing draws λ from the hook's own generator with torch's RNG
    forked and restores BN's running statistics, so a run with the hook
    trains exactly like one without it."""
    losses = []
    for i, hooks in enumerate(
        ([], [dict(type='MixSSLVisualizationHook', interval=1)])):
        runner = Runner.from_cfg(
            _cfg(tmp_path / f'work{i}', *folders, hooks, max_iters=2))
        runner.train()
        losses.append(runner.message_hub.get_scalar('train/loss').data[0])
    assert len(losses[0]) == 2
    np.testing.assert_array_equal(losses[0], losses[1])


def test_hook_draws_a_model_without_transparency_head():
    model = build_model(
        MIXSSL_R18,
        use_trans=False,
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3))
    hook = MixSSLVisualizationHook(max_samples=2)
    batch = dict(
        inputs=[
            torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=mixssl_samples(2))
    grid = hook.visualize_batch(model, batch)
    assert grid.ndim == 3 and grid.dtype.name == 'uint8'
    assert hook.last_lam_pred is None and len(hook.last_lam) == 2


def test_hook_rejects_bad_args():
    with pytest.raises(ValueError, match='interval'):
        MixSSLVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='max_samples'):
        MixSSLVisualizationHook(max_samples=0)


def test_hook_predicts_lambda_as_trained_with_per_sample_lambdas():
    """λ̂ is the head's output with BatchNorm in train mode on the whole
    batch (as in training), the rows have different λs, and the model's BN
    statistics, mode and λ generator are left as they were."""
    torch.manual_seed(0)
    model = build_model(
        MIXSSL_R18,
        lam_mode='batch',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3))
    model.eval()
    batch = dict(
        inputs=[
            torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=mixssl_samples(6))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook = MixSSLVisualizationHook(max_samples=4)
    hook.visualize_batch(model, batch, step=3)
    assert not model.training
    # BN statistics and the λ generator (lam_sampler.*) as before
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    lam = torch.as_tensor(hook.last_lam)
    assert len(lam) == 4 and len(set(lam.tolist())) == 4
    # by hand: the hook's λs for all 6 samples, BN in train mode
    full = hook.hook_lam(model, 6, torch.device('cpu'), 3)
    torch.testing.assert_close(full[:4], lam)
    model.train()
    with torch.no_grad():
        inputs = model.data_preprocessor(batch, True)['inputs']
        out = model.forward_mix(inputs, lam=full)
        expected = model.head(out['feats'])[:4]
        model.eval()
        eval_pred = model.head(model.forward_mix(inputs, lam=full)['feats'])
    torch.testing.assert_close(torch.as_tensor(hook.last_lam_pred), expected)
    assert not torch.allclose(eval_pred[:4], expected)  # not eval mode's
