"""mixssl_mm.benchmark.planning: the start checkpoint (--init-ckpt)
reaches every method's pretraining stage and ImageNet-self, is recorded in
results.md, and a file that does not fit the preset's encoder is refused
before any stage."""
import copy
import shlex

import pytest
import torch
from mmpretrain.models import ResNet
from mmpretrain.registry import MODELS

import mixssl_mm  # noqa: F401 (registers the plugin's components)
from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.methods import METHOD_GROUPS, METHODS
from mixssl_mm.benchmark.planning import Plan
from mixssl_mm.benchmark.report import header_lines
from mixssl_mm.benchmark.runner import main


def _converted(path, depth=18, prefix='backbone.'):
    """A converted ImageNet ResNet as the converter writes it: the encoder
    under ``backbone.`` (random weights, seed 0)."""
    torch.manual_seed(0)
    state = ResNet(depth=depth).state_dict()
    torch.save({'state_dict': {
        prefix + k: v
        for k, v in state.items()
    }}, str(path))
    return str(path)


def test_every_pretraining_and_imagenet_self_start_from_it(
        repo_cwd, tmp_path, capsys):
    ckpt = _converted(tmp_path / 'dino_r18.pth')
    assert main([
        '--preset', 'tiny', '--methods', 'all', 'design', 'imagenet-self',
        '--protocols', 'finetune', '--init-ckpt', ckpt, '--dry-run',
        '--work-dir',
        str(tmp_path / 'w')
    ]) == 0
    log = capsys.readouterr().out
    commands = [
        shlex.split(line) for line in log.splitlines()
        if '-m mixssl_mm.apis.train' in line
    ]
    pretrain = [
        c for c in commands
        if c[c.index('--work-dir') + 1].endswith('/pretrain')
    ]
    pretrained = [
        m for m in METHODS
        if METHODS[m]['config'] and m not in METHOD_GROUPS['mmpretrain']
    ]
    assert len(pretrain) == len(pretrained) == 17
    for cmd in pretrain:
        assert {
            'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={ckpt}',
            'model.backbone.init_cfg.prefix=backbone.'
        } <= set(cmd), cmd
    imagenet_self, = [c for c in commands if '/imagenet_self/' in ' '.join(c)]
    assert f'model.backbone.init_cfg.checkpoint={ckpt}' in imagenet_self
    rand, = [c for c in commands if '/rand/' in ' '.join(c)]
    # Rand stays random: its own random start, not the shared one
    assert 'model.backbone.init_cfg.checkpoint=' + str(
        tmp_path / 'w' / 'rand_start' / 'seed0' / 'encoder' /
        'backbone.pth') in rand

    plan = Plan(
        parse_benchmark_args(['--preset', 'tiny', '--init-ckpt', ckpt]))
    start, = [line for line in header_lines(plan, 0) if 'Start' in line]
    assert ckpt in start and plan.init_sha256[:16] in start

    # and it really is what the built encoder starts from
    cfg = copy.deepcopy(plan.configs.config(plan.pretrain_config('mixssl')))
    cfg.merge_from_dict(
        plan.pretrain_options('mixssl', 0), allow_list_keys=True)
    model = MODELS.build(cfg.model)
    model.init_weights()
    saved = torch.load(ckpt)['state_dict']
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, saved['backbone.' + k]), k


def test_files_that_do_not_fit_are_refused(repo_cwd, tmp_path):
    r50 = _converted(tmp_path / 'r50.pth', depth=50)

    def plan(*argv):
        return Plan(parse_benchmark_args(['--preset', 'tiny', *argv]))

    with pytest.raises(SystemExit) as e:
        plan('--init-ckpt', r50)
    assert 'cannot start the preset\'s encoder, ResNet-18' in str(e.value)
    assert 'shape mismatches (the checkpoint vs the model)' in str(e.value)
    assert '--preset gpu-paper' in str(e.value)
    raw = _converted(tmp_path / 'torchvision.pth', prefix='')
    with pytest.raises(SystemExit, match='unconverted torchvision-layout'):
        plan('--init-ckpt', raw)
    with pytest.raises(SystemExit, match='no such file'):
        plan('--init-ckpt', str(tmp_path / 'missing.pth'))
    ckpt = _converted(tmp_path / 'r18.pth')
    with pytest.raises(SystemExit, match='differ'):
        plan('--init-ckpt', ckpt, '--imagenet-ckpt', r50)
    # --imagenet-ckpt alone: ImageNet-self only, as before
    alone = plan('--methods', 'imagenet-self', '--imagenet-ckpt', ckpt)
    assert alone.init_ckpt is None and alone.imagenet_ckpt == ckpt
