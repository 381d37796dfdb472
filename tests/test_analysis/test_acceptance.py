"""mixssl_mm.analysis.acceptance: the hard stop (a child and its whole
process group killed at the part's deadline; a part out of time reported as
not run), without depending on how fast the machine is; what each part runs
in GPU mode (every pretraining config, the shipped sizes and the throughput
levers) and in --tiny mode, from the command lines the tool builds. The
whole run: tests/test_tools/test_gpu_acceptance.py."""
import os
import os.path as osp
import time

import pytest

from mixssl_mm.analysis.acceptance import (FAST, PRETRAIN, TINY_CONFIGS,
                                           Acceptance, parse_args)
from mixssl_mm.analysis.acceptance_report import budget_hit, render


@pytest.fixture
def acceptance(repo_cwd, tmp_path):
    return Acceptance(parse_args(['--tiny', '--out', str(tmp_path)]))


@pytest.fixture
def gpu_acceptance(repo_cwd, tmp_path):
    """The run as on a GPU, for the command lines it builds (parse_args
    refuses GPU mode on a machine without CUDA; nothing is launched)."""
    args = parse_args(['--tiny', '--out', str(tmp_path / 'gpu')])
    args.tiny = False
    acc = Acceptance(args)
    acc.folder = str(tmp_path / 'images')
    return acc


def _pretraining_configs():
    import mixssl_mm  # noqa: F401
    from mixssl_mm.analysis.shrink import config_kind, shipped_configs
    from mixssl_mm.benchmark.planning import load_config
    return [
        c for c in shipped_configs('configs')
        if config_kind(load_config(c)) == 'pretrain'
    ]


def _gone(pid: int, wait_s: float = 10.0) -> bool:
    end = time.time() + wait_s
    while time.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_child_and_its_process_group_are_killed_at_the_deadline(
        acceptance, tmp_path):
    pid_file = tmp_path / 'grandchild.pid'
    # a child that starts a grandchild (as torchrun starts its ranks)
    cmd = ['bash', '-c', f'sleep 300 & echo $! > {pid_file}; wait']
    ticks = []
    t0 = time.time()
    res = acceptance.run(
        cmd,
        str(tmp_path / 'child.log'),
        until=time.time() + 2,
        on_tick=lambda: ticks.append(1))
    assert res['cut'] and res['rc'] != 0
    assert time.time() - t0 < 2 + 2 * 5 + 5  # the deadline + kill grace
    assert _gone(int(pid_file.read_text()))
    assert (tmp_path / 'child.log').read_text().startswith('$ bash -c')


def test_a_finished_child_is_not_cut(acceptance, tmp_path):
    res = acceptance.run(['bash', '-c', 'exit 3'],
                         str(tmp_path / 'x.log'),
                         until=time.time() + 60)
    assert res == dict(rc=3, seconds=res['seconds'], cut=False)


def test_a_part_out_of_time_reports_every_config_not_run(acceptance):
    acceptance.folder = None
    acceptance.part_a(until=time.time())  # its share already spent
    rows = acceptance.state['a']
    assert [r['config'] for r in rows] == list(TINY_CONFIGS)
    assert {r['status'] for r in rows} == {'not run (budget)'}
    assert budget_hit(acceptance.state)
    assert 'not run (budget)' in render(acceptance.state, elapsed=1)


def test_gpu_mode_trains_every_pretraining_config_tiny_mode_two(
        gpu_acceptance, acceptance):
    every = _pretraining_configs()
    assert len(every) >= 16
    assert gpu_acceptance.mode == 'gpu'
    assert gpu_acceptance.a_configs() == every
    cmd = gpu_acceptance.a_command(every)
    assert cmd[cmd.index('--iters') + 1] == '20' and '--tiny' not in cmd
    assert cmd[-len(every):] == every

    # --tiny: MixSSL's main config and one built wholly by mmpretrain, both
    # shipped pretraining configs (a renamed config fails here)
    from mmpretrain.registry import MODELS

    from mixssl_mm.benchmark.planning import load_config
    tiny = acceptance.a_configs()
    assert tiny == [PRETRAIN, TINY_CONFIGS[1]] and set(tiny) < set(every)
    models = [MODELS.get(load_config(c).model.type) for c in tiny]
    assert models[0].__module__.startswith('mixssl_mm.')
    assert models[1].__module__.startswith('mmpretrain.')
    acceptance.folder = 'images'
    cmd = acceptance.a_command(tiny)
    assert cmd[cmd.index('--iters') + 1] == '3' and cmd[-1] == '--tiny'


def test_gpu_mode_command_lines(gpu_acceptance):
    """Parts (b)-(d) on a GPU: shipped sizes, NCCL's launchers, the
    throughput levers at ResNet-50 / 224 px / batch 256 for the three
    methods, the gpu-quick preset on 8 classes."""
    acc = gpu_acceptance
    steps = acc.b_steps()
    assert [s[1] for s in steps] == ['dist_train.sh'] * 3 + ['dist_test.sh']
    pretrain = steps[0][2]
    assert pretrain[:2] == [PRETRAIN, '1']
    # the shipped batch, 10 iterations of it, the shipped ResNet-50
    for opt in ('train_dataloader.batch_size=64',
                'train_dataloader.dataset.indices=640',
                'train_dataloader.num_workers=4'):
        assert opt in pretrain
    assert not any(o.startswith('model.') for o in pretrain)
    assert '--resume' in steps[1][2]
    # dist_test.sh on the whole test split
    assert 'test_dataloader.dataset.indices=None' in steps[3][2]

    levers = [
        '--device', 'cuda', '--depth', '50', '--size', '224', '--batch', '256',
        '--amp', '--channels-last', '--compile', '--fused', '--iters', '20',
        '--warmup', '5', '--num-workers', '14'
    ]
    methods = acc.settings['throughput_methods']
    assert methods == ('mixssl', 'simclr', 'mocov2')
    for method in methods:
        cmd = acc.c_command(method)
        assert cmd[3:3 + len(levers)] == levers
        assert cmd[cmd.index('--methods') + 1] == method
        assert cmd[cmd.index('--modes') + 1:][:2] == ['synthetic', 'pipeline']
        assert cmd[cmd.index('--out') + 1] == osp.join(acc.out, 'c',
                                                       f'{method}.json')
    mixssl = acc.c_command('mixssl')
    assert mixssl[-2:] == ['--mixssl-config', FAST]  # compiled: no options

    d = acc.d_command()
    assert d[3:] == [
        '--preset', 'gpu-quick', '--work-dir',
        osp.join(acc.out, 'd'), '--classes', '8'
    ]


def test_tiny_mode_command_lines(acceptance):
    """--tiny: the same parts shrunk, one timed step per throughput row."""
    steps = acceptance.b_steps()
    assert len(steps) == 4
    assert 'model.backbone.depth=18' in steps[0][2]
    assert 'test_dataloader.dataset.indices=256' in steps[3][2]
    assert acceptance.settings['throughput_methods'] == ('mixssl', 'simclr')
    cmd = acceptance.c_command('mixssl')
    assert cmd[cmd.index('--iters') + 1] == '1'
    assert cmd[cmd.index('--warmup') + 1] == '0'
    assert cmd[cmd.index('--device') + 1] == 'cpu'
    assert cmd[-2:] == ['--mixssl-options', 'compile=False']
    assert acceptance.d_command()[3:5] == ['--preset', 'tiny']
