"""mixssl_mm.apis.test: mmpretrain's test.py with the plugin imported, so a
config's mixssl_mm metrics (PerClassAccuracy, ROCAUC) evaluate a
checkpoint; the same flags as mmpretrain's; a checkpoint that does not fit
the model is refused before any test work."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests._helpers.training import CLASSIFIER_EVAL, REPO, classifier_config


def test_python_m_help_is_mmpretrain_test_py(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'mixssl_mm.apis.test', '-h'],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path),
                         timeout=120)
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
    cfg.write_text(
        classifier_config(image_folders[0], ckpt, extra=CLASSIFIER_EVAL))
    out = tmp_path / 'metrics.pkl'
    argv = sys.argv
    try:
        main([
            str(cfg),
            str(ckpt), '--work-dir',
            str(tmp_path / 'work'), '--out',
            str(out)
        ])
    finally:
        sys.argv = argv
        init_default_scope('mmpretrain')
    log = capsys.readouterr().out
    # write_image_folder alternates a/b: 4 images each, all called a
    assert 'accuracy/top1: 50.0000' in log
    assert 'per_class_accuracy/a: 100.0000' in log
    assert 'per_class_accuracy/b: 0.0000' in log
    assert out.is_file()


FINETUNE_R50 = 'configs/mixssl/benchmarks/resnet50_1xb64-20e_bloodmnist_' \
    'finetune.py'


def resnet18_finetune_checkpoint(path, num_classes=8) -> str:
    """What a ResNet-18 fine-tune run saves: the backbone and a linear head
    of ``num_classes`` (random weights)."""
    from mmpretrain.models import ResNet
    state = {
        f'backbone.{k}': v
        for k, v in ResNet(depth=18).state_dict().items()
    }
    state.update({
        'head.fc.weight': torch.zeros(num_classes, 512),
        'head.fc.bias': torch.zeros(num_classes)
    })
    torch.save({'meta': {}, 'state_dict': state}, path)
    return str(path)


def test_a_checkpoint_that_does_not_fit_is_refused_before_testing(
        tmp_path, train_in_process):
    """The reported case: a ResNet-18 fine-tune checkpoint on the ResNet-50
    fine-tune config used to print 24 size-mismatch lines, test a random
    ResNet-50 and exit 0."""
    from mixssl_mm.preflight import ConfigError
    ckpt = resnet18_finetune_checkpoint(tmp_path / 'r18_finetune.pth')
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process.test(osp.join(REPO, FINETUNE_R50), ckpt, work)
    msg = str(info.value)
    assert msg.startswith(f'tools/test.py: the checkpoint {ckpt} does not '
                          'fit the model (ImageClassifier) of the config')
    assert 'missing keys (in the model, not in the checkpoint): ' \
        'backbone.layer1.0.bn3.bias' in msg
    assert ('shape mismatches (the checkpoint vs the model): '
            'backbone.layer1.0.conv1.weight (64, 64, 3, 3) vs (64, 64, 1, 1)'
            in msg)
    assert 'model.backbone.depth' in msg and 'strict_pretrained=False' in msg
    assert not work.exists()  # the Runner's files were removed, no test ran
    missing = tmp_path / 'nope.pth'
    with pytest.raises(
            ConfigError,
            match=f"CHECKPOINT '{missing}' \\(the "
            'checkpoint to test\\): no such file'):
        train_in_process.test(osp.join(REPO, FINETUNE_R50), missing, work)
    assert not work.exists()
