"""The grid of a saved MixSSL checkpoint (tools/visualization/vis_mixssl.py):
the checkpoint's weights are the ones drawn, and a missing, foreign or
mismatched checkpoint is refused before anything is drawn."""
import runpy
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from PIL import Image

from mixssl_mm.visualization.checkpoint_grid import draw_checkpoint_grid
from tests._helpers.image_folders import write_flat_folder
from tests._helpers.mixssl_runner import mixssl_runner_cfg


@pytest.fixture
def run(tmp_path):
    target = write_flat_folder(tmp_path / 'target', 6, size=36, seed=1)
    aux = write_flat_folder(tmp_path / 'aux', 4, size=36, seed=2)
    cfg = mixssl_runner_cfg(tmp_path / 'work', target, aux, crop=32)
    # where mmpretrain's configs (and a run's dumped config) keep it
    cfg.data_preprocessor = cfg.model.pop('data_preprocessor')
    cfg_file = str(tmp_path / 'mixssl.py')
    cfg.dump(cfg_file)
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(cfg.model))
    # a λ head that answers 0.3 whatever the image: sigmoid(logit(0.3))
    last = model.head.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(torch.logit(torch.tensor(0.3)).item())
    ckpt = str(tmp_path / 'iter_2.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return cfg_file, ckpt, tmp_path


def test_the_checkpoint_weights_are_drawn(run, monkeypatch, capsys):
    cfg_file, ckpt, tmp = run
    out = str(tmp / 'grid.png')
    monkeypatch.setattr(
        sys, 'argv',
        ['vis_mixssl.py', cfg_file, ckpt, '--out', out, '--max-samples', '3'])
    runpy.run_path('tools/visualization/vis_mixssl.py', run_name='__main__')
    printed = capsys.readouterr().out
    assert 'λ̂: 0.30 0.30 0.30' in printed
    grid = Image.open(out)
    assert grid.mode == 'RGB' and grid.size[0] > grid.size[1] / 3
    # per-sample λ: the rows differ
    _, info = draw_checkpoint_grid(cfg_file, ckpt, max_samples=3)
    assert info['lam'].shape == (3, ) and len(set(info['lam'].round(4))) == 3
    assert info['l1'] == pytest.approx(abs(info['lam'] - 0.3).mean(), 1e-5)


def test_bad_checkpoints_are_refused_before_drawing(run):
    cfg_file, ckpt, tmp = run
    with pytest.raises(FileNotFoundError, match='does not exist'):
        draw_checkpoint_grid(cfg_file, str(tmp / 'missing.pth'))
    wider = Config.fromfile(cfg_file)
    wider.model.head.hid_channels = 64
    with pytest.raises(RuntimeError, match='does not fit the model'):
        draw_checkpoint_grid(wider, ckpt)
    simclr = Config.fromfile(cfg_file)
    simclr.model = dict(
        type='SimCLR',
        backbone=dict(type='ResNet', depth=18),
        neck=dict(
            type='NonLinearNeck',
            in_channels=512,
            hid_channels=64,
            out_channels=32,
            with_avg_pool=True),
        head=dict(
            type='ContrastiveHead',
            loss=dict(type='CrossEntropyLoss'),
            temperature=0.1))
    with pytest.raises(TypeError, match='not a MixSSL model'):
        draw_checkpoint_grid(simclr, ckpt)


def test_a_file_that_is_no_checkpoint_is_named(run):
    # it was a raw IndexError from torch's unpickler
    cfg_file, _, tmp = run
    (tmp / 'notes.pth').write_text('text\n')
    with pytest.raises(ValueError, match='cannot be read as a checkpoint'):
        draw_checkpoint_grid(cfg_file, str(tmp / 'notes.pth'))


@pytest.mark.parametrize('out, message', [
    ('folder', 'give an image file to write, e.g. {tmp}/folder/grid.png'),
    ('grid.jpgx', 'give an image file to write, e.g. {tmp}/grid.png'),
    ('afile/grid.png', '{tmp}/afile is a file, not a folder'),
])
def test_a_bad_out_is_refused_before_the_model_runs(tmp_path, out, message):
    # PIL refused it only after the grid was drawn
    from mixssl_mm.visualization.checkpoint_grid import main
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'afile').write_text('x')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('model = dict()\n')
    with pytest.raises(SystemExit) as e:
        main([str(cfg), 'none.pth', '--out', str(tmp_path / out)])
    assert message.format(tmp=tmp_path) in str(e.value)
    with pytest.raises(SystemExit, match='no such file'):
        main([str(tmp_path / 'missing.py'), 'none.pth', '--out', 'g.png'])
