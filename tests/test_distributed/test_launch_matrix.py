"""Every shipped config under the shipped launchers: ``bash
tools/dist_train.sh CONFIG 2`` (torchrun, 2 processes, gloo on the CPU), and
for fine-tune / linear-probe configs then ``bash tools/dist_test.sh CONFIG
CHECKPOINT 2``.

The matrix is every ``configs/**/*.py`` outside ``_base_``, classified by
what its model builds (:func:`mixssl_mm.analysis.shrink.config_kind`), so a
config added later is launched too (or fails collection if it is neither
kind). Each is shrunk with --cfg-options only (ResNet-18 of width 16, or
for the ConvNeXt and ViT MixSSL configs the smallest arch of their family;
32 px, 16 samples of generated data, batch 4 per process, 1 epoch = 2
iterations; :func:`mixssl_mm.analysis.shrink.shrink_options`,
:func:`tests._helpers.tiny_encoders.shrink_any_options`) and trained with
``--auto-scale-lr``. Checked per config: the launcher exits 0 with no crash
in its output, both ranks end with identical parameters, the checkpoint
holds the 2 iterations, the logged lr is the config's lr scaled to the total
batch of 8 from its ``auto_scale_lr.base_batch_size``, and the test launcher
reports accuracy. Some configs have more to show, checked on the same
run (:data:`EXTRA_CHECKS`): each Table-3 ablation logs exactly its
objectives' losses and checkpoints only their modules; each baseline
method (Rotation, Mixup-SimCLR, MixCo, DINO) logs its losses, DINO's
checkpoint holds its teacher (moved away from the student) and its centre,
and DINO's last layer stays frozen on both ranks for its first iteration and
trains in the second (:data:`EXTRA_OPTIONS`).

The launches run JOBS at a time (each is mostly interpreter start-up and
imports, so two cores stay busy); only the configs selected for this
session are launched. A config's work dir (a shrunk MixSSL run still writes
about 160 MB: checkpoint and both ranks' parameters) is deleted once its
test has passed; a failed test's stays for inspection.
"""
import math
import os.path as osp
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from mixssl_mm.analysis.shrink import config_kind
from mixssl_mm.benchmark.planning import to_cfg_options
from tests._helpers.dist_launch import (CRASH_MARKERS, RANK_HOOK_OPTIONS, REPO,
                                        launch, logged_lrs, parsed_config,
                                        rank_params, shipped_configs)
from tests._helpers.tiny_encoders import shrink_any_options
from tests._helpers.tmp_dirs import shared_tmp

NPROC, BATCH, SAMPLES = 2, 4, 16
JOBS = 3
CONFIGS = shipped_configs()
parsed = parsed_config
ITERS = SAMPLES // (NPROC * BATCH)


def _logged(log: str, key: str) -> list:
    """Every ``key: X`` value of the train log lines (rank 0 logs)."""
    return [float(v) for v in re.findall(rf' {key}: (\S+)', log)]


def _losses_and_modules(losses: dict, modules: set):
    """A check that the run logged (finite, once per iteration) exactly the
    losses in ``losses`` -- of all those it names -- and that its checkpoint
    holds exactly the top-level modules ``modules``."""

    def check(run, ckpt):
        log = run['train_log']
        for key, logged in losses.items():
            values = _logged(log, key)
            if logged:
                assert len(values) == ITERS, (key, _tail(log))
                assert all(math.isfinite(v) for v in values), (key, values)
            else:
                assert not values, (key, _tail(log))
        found = {k.split('.')[0] for k in ckpt['state_dict']}
        assert found == modules, found

    return check


def _ablation(name: str) -> str:
    return f'configs/mixssl/ablations/mixssl-{name}_resnet50_1xb64-20e_' \
        'bloodmnist.py'


def _baseline(name: str) -> str:
    return f'configs/{name}/{name}_resnet50_1xb64-20e_bloodmnist.py'


def _objectives(on: set) -> dict:
    return {
        key: key in on
        for key in ('loss_rec', 'loss_trans', 'loss_contrast', 'loss_aux')
    }


def _dino(run, ckpt):
    _losses_and_modules({'loss': True},
                        {'backbone', 'neck', 'head', 'teacher'})(run, ckpt)
    sd = ckpt['state_dict']
    assert sd['teacher.steps'].item() == ITERS
    assert 'teacher.module.0.conv1.weight' in sd
    # one centre entry per prototype of the shrunk head
    out = shrink_any_options(parsed(
        _baseline('dino')))['model.head.out_channels']
    assert sd['head.center'].shape == (1, out)
    assert sd['head.center'].abs().sum() > 0
    # the teacher follows the student by EMA: after 2 steps not equal
    assert not torch.equal(sd['teacher.module.0.conv1.weight'],
                           sd['backbone.conv1.weight'])
    # the last-layer freeze (EXTRA_OPTIONS: the first of the 2 iterations)
    # under DistributedDataParallel: every parameter gets a gradient and
    # DINOLastLayerFreezeHook drops the last layer's after the all-reduce,
    # so on both ranks the layer stays put, then trains
    assert 'the last layer is frozen for the first 1 of 2 iterations' in \
        run['train_log'], _tail(run['train_log'])
    for rank in range(NPROC):
        # before training, then after iterations 1 and 2
        trace = torch.load(run['work'] / f'last_layer_rank{rank}.pth')
        assert len(trace) == ITERS + 1
        assert torch.equal(trace[1], trace[0])  # frozen
        assert not torch.equal(trace[2], trace[1])  # trained


# config -> cfg-options added to its launch: DINO's freeze (5 % of the
# run) would round to no frozen iteration of 2; half of them keeps it in
# the run, and a test-only hook traces the last layer on every rank
EXTRA_OPTIONS = {
    _baseline('dino'): [
        'custom_hooks.0.freeze_ratio=0.5',
        'default_hooks.last_layer_trace.type='
        'dino_trace_hook.LastLayerTraceHook'
    ],
}
# config -> check(run, checkpoint) on top of what every config is checked
# for; a switched-off objective builds nothing (rec_head has no
# parameters), and every MixSSL holds its λ generator's state
EXTRA_CHECKS = {
    _ablation('r'):
    _losses_and_modules(
        _objectives({'loss_rec'}), {'backbone', 'neck', 'lam_sampler'}),
    _ablation('t'):
    _losses_and_modules(
        _objectives({'loss_trans'}), {'backbone', 'head', 'lam_sampler'}),
    _ablation('rc'):
    _losses_and_modules(
        _objectives({'loss_rec', 'loss_contrast'}),
        {'backbone', 'neck', 'contrast_neck', 'lam_sampler'}),
    _ablation('ra'):
    _losses_and_modules(
        _objectives({'loss_rec', 'loss_aux'}),
        {'backbone', 'neck', 'aux_head', 'lam_sampler'}),
    _baseline('rotation'):
    _losses_and_modules({
        'loss': True,
        'acc_rot': True
    }, {'backbone', 'head'}),
    _baseline('mixup-simclr'):
    _losses_and_modules({'loss': True}, {'backbone', 'neck'}),
    _baseline('mixco'):
    _losses_and_modules({
        'loss_contrast': True,
        'loss_mix': True
    }, {'backbone', 'neck'}),
    _baseline('dino'):
    _dino,
}


def _options(config: str, data) -> list:
    opts = shrink_any_options(
        parsed(config),
        samples=SAMPLES,
        batch_size=BATCH,
        medmnist=data.medmnist,
        folder=data.folder,
        pretrained=data.backbone)
    return to_cfg_options(opts) + RANK_HOOK_OPTIONS + EXTRA_OPTIONS.get(
        config, [])


def _run(config: str, data, root) -> dict:
    """Train (and, for a classifier, test) one config; returns the
    launchers' exit codes, outputs and seconds."""
    work = root / osp.splitext(config)[0].replace('/', '__')
    opts = _options(config, data)
    out = dict(work=work)
    t0 = time.time()
    train = launch(
        'dist_train.sh', [
            osp.join(REPO, config),
            str(NPROC), '--work-dir',
            str(work), '--auto-scale-lr', '--cfg-options', *opts
        ],
        cwd=root)
    out.update(
        train_rc=train.returncode,
        train_log=train.stdout,
        train_s=time.time() - t0)
    if config_kind(parsed(config)) == 'downstream' and train.returncode == 0:
        t0 = time.time()
        test = launch(
            'dist_test.sh', [
                osp.join(REPO, config),
                str(work / 'epoch_1.pth'),
                str(NPROC), '--work-dir',
                str(work / 'test'), '--cfg-options', *opts
            ],
            cwd=root)
        out.update(
            test_rc=test.returncode,
            test_log=test.stdout,
            test_s=time.time() - t0)
    return out


@pytest.fixture(scope='module')
def matrix(request, tiny_data, tmp_path_factory):
    """Launch every config selected in this session, JOBS at a time."""
    selected = [
        item.callspec.params['config'] for item in request.session.items
        if item.path == request.path and hasattr(item, 'callspec')
        and 'config' in item.callspec.params
    ]
    root = shared_tmp(request, tmp_path_factory, 'matrix')
    with ThreadPoolExecutor(JOBS) as pool:
        futures = {
            c: pool.submit(_run, c, tiny_data, root)
            for c in dict.fromkeys(selected)
        }
        return {c: f.result() for c, f in futures.items()}


def _tail(log: str) -> str:
    return log[-4000:]


def _assert_clean(rc: int, log: str) -> None:
    assert rc == 0, _tail(log)
    for marker in CRASH_MARKERS:
        assert marker not in log, _tail(log)


def test_every_extra_check_names_a_shipped_config():
    assert set(EXTRA_CHECKS) | set(EXTRA_OPTIONS) <= set(CONFIGS)


def test_every_config_is_classified():
    kinds = {c: config_kind(parsed(c)) for c in CONFIGS}
    assert set(kinds.values()) == {'pretrain', 'downstream'}
    assert sum(k == 'pretrain' for k in kinds.values()) >= 16


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_under_dist_train_and_tests_under_dist_test(
        matrix, config):
    run = matrix[config]
    _assert_clean(run['train_rc'], run['train_log'])

    # DDP kept the ranks in step: identical parameters at the end
    p0, p1 = rank_params(run['work'], NPROC)
    assert p0.keys() == p1.keys() and p0
    different = [k for k in p0 if not torch.equal(p0[k], p1[k])]
    assert not different, different[:5]

    ckpt = torch.load(run['work'] / 'epoch_1.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == ITERS

    # --auto-scale-lr: lr x total batch / auto_scale_lr.base_batch_size
    cfg = parsed(config)
    want = (
        cfg.optim_wrapper.optimizer.lr * NPROC * BATCH /
        cfg.auto_scale_lr.base_batch_size)
    if cfg.get('param_scheduler'):
        # a schedule moves the logged lr; the scaled lr is its base
        # (mmengine's schedulers keep it as each group's initial_lr)
        groups = ckpt['optimizer']['param_groups']
        assert all(
            math.isclose(g['initial_lr'], want, rel_tol=1e-3)
            for g in groups), ([g['initial_lr'] for g in groups], want)
    else:
        lrs = logged_lrs(run['train_log'])
        assert lrs and all(math.isclose(lr, want, rel_tol=1e-3)
                           for lr in lrs), (lrs, want)

    if config_kind(cfg) == 'downstream':
        _assert_clean(run['test_rc'], run['test_log'])
        assert 'accuracy/top1' in run['test_log'], _tail(run['test_log'])
    if config in EXTRA_CHECKS:
        EXTRA_CHECKS[config](run, ckpt)
    shutil.rmtree(run['work'])
