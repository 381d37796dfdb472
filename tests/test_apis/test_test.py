"""mixssl_mm.apis.test: mmpretrain's test.py with the plugin imported, so a
config's mixssl_mm metrics (PerClassAccuracy, ROCAUC) evaluate a
checkpoint; the same flags as mmpretrain's."""
import subprocess
import sys

import torch

from tests._helpers.training import CLASSIFIER_EVAL, classifier_config



def test_python_m_help_is_mmpretrain_test_py(tmp_path):
    out = subprocess.run(
        [sys.executable, '-m', 'mixssl_mm.apis.test', '-h'],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'usage: test.py' in out.stdout
    for flag in ('checkpoint', '--work-dir', '--out', '--cfg-options'):
        assert flag in out.stdout


def test_a_checkpoint_is_evaluated_with_the_plugin_metrics(
        tmp_path, image_folders, one_thread, capsys):
    from mmengine.registry import init_default_scope
    from mmpretrain.models import ResNet

    from mixssl_mm.apis.test import main
    backbone = ResNet(depth=18, stem_channels=16, base_channels=16)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(2, 128)
    state['head.fc.bias'] = torch.tensor([1.0, 0.0])  # always class a
    ckpt = tmp_path / 'classifier.pth'
    torch.save({'meta': {}, 'state_dict': state}, ckpt)
    cfg = tmp_path / 'classifier.py'
    cfg.write_text(classifier_config(image_folders[0], ckpt, extra=CLASSIFIER_EVAL))
    out = tmp_path / 'metrics.pkl'
    argv = sys.argv
    try:
        main([str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'work'),
              '--out', str(out)])
    finally:
        sys.argv = argv
        init_default_scope('mmpretrain')
    log = capsys.readouterr().out
    # write_image_folder alternates a/b: 4 images each, all called a
    assert 'accuracy/top1: 50.0000' in log
    assert 'per_class_accuracy/a: 100.0000' in log
    assert 'per_class_accuracy/b: 0.0000' in log
    assert out.is_file()
