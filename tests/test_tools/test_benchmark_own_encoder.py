"""tools/benchmark.py with MixSSL on its own (non-ResNet) encoder: the
shipped ConvNeXt config, at ConvNeXt-atto in a user's file for the test's
speed, benchmarked end to end at ``tiny`` (pretraining, linear probe and its
test, k-NN). The run keeps the config's ConvNeXt in every stage, with the
decoder, heads and classifier at the probed 320 channels, and loads the
pretrained encoder into the linear probe. The fitting of the shipped
ConvNeXt and ViT configs is tested in
tests/test_benchmark/test_config_fit.py."""
import glob
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
DATA = REPO / 'data' / 'medmnist' / 'bloodmnist.npz'
SHIPPED = REPO / 'configs' / 'mixssl' / \
    'mixssl_convnext-tiny_1xb64-1e_bloodmnist-64px.py'
# the shipped config's readers (768) stay: the run sets them from the probe
USER_CONFIG = f"""_base_ = ['{SHIPPED}']
model = dict(backbone=dict(arch='atto'))
"""


@pytest.mark.skipif(
    not DATA.exists(),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py)')
def test_mixssl_on_convnext_runs_end_to_end_at_tiny(tmp_path):
    config = tmp_path / 'mixssl_convnext-atto.py'
    config.write_text(USER_CONFIG)
    work = tmp_path / 'bench'
    out = subprocess.run([
        sys.executable,
        str(TOOL), '--preset', 'tiny', '--threads', '1', '--methods',
        f'CNX={config}', '--protocols', 'linear', 'knn', '--classes', '4',
        '--work-dir',
        str(work)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    # pretrain, linear probe, its test, k-NN
    assert '4 stages run, 0 skipped, 0 failed' in out.stdout
    md = (work / 'results.md').read_text()
    assert '| CNX (n=1) |' in md
    assert 'its config\'s own encoder, ConvNeXt atto (320 channels' in md

    def dumped(stage):
        files = glob.glob(str(work / 'CNX' / 'seed0' / stage / '*' / '*.py'))
        files += glob.glob(str(work / 'CNX' / 'seed0' / stage / '*.py'))
        return Config.fromfile(files[0])

    pre = dumped('pretrain')
    assert pre.model.backbone.type == 'ConvNeXt'
    assert 'depth' not in pre.model.backbone
    assert pre.model.neck.in_channels == pre.model.head.in_channels == 320
    linear = dumped('linear')
    assert linear.model.backbone.type == 'ConvNeXt'
    assert linear.model.backbone.frozen_stages == 4
    assert linear.model.head.in_channels == 320
    ckpt = linear.model.backbone.init_cfg.checkpoint
    assert linear.model.backbone.init_cfg.prefix == 'backbone.'
    assert ckpt.startswith(str(work / 'CNX' / 'seed0' / 'pretrain'))
    assert Path(ckpt).is_file()
