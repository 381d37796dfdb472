"""mixssl_mm.analysis.throughput: the config plumbing (the shared methods
table, crop size, channels, MoCo queue, loaders) and real timed steps on
CPU with tiny settings (levers, loader alone). Both modes through the tool
itself: tests/test_tools/test_benchmark_throughput.py."""
import json
import re
from pathlib import Path

import pytest

from mixssl_mm.analysis.throughput import (THROUGHPUT_METHODS, load_config,
                                           main, parse_throughput_args)
from mixssl_mm.benchmark.methods import METHODS

DATA = Path(__file__).resolve().parents[2] / 'data/medmnist/bloodmnist.npz'
TINY = [
    '--device', 'cpu', '--depth', '18', '--size', '32', '--batch', '4',
    '--iters', '2', '--warmup', '1'
]


def _crop_sizes(cfg):
    text = json.dumps(cfg.train_dataloader.to_dict())
    return [int(s) for s in re.findall(r'"scale": (\d+)', text)]


def test_config_plumbing(repo_cwd):
    args = parse_throughput_args(
        [*TINY, '--batch', '48', '--num-workers', '0'])
    for key in THROUGHPUT_METHODS:
        cfg = load_config(key, args)
        assert cfg.filename == METHODS[key]['config']  # the shared table
        assert cfg.model.backbone.depth == 18
        assert cfg.model.neck.in_channels == 512
        assert cfg.train_dataloader.batch_size == 48
        assert cfg.train_dataloader.num_workers == 0
        assert cfg.train_dataloader.persistent_workers is False
        assert cfg.train_dataloader.pin_memory is False  # CPU run
        assert cfg.train_dataloader.dataset.data_root == str(
            repo_cwd / 'data' / 'medmnist')
        # MixSSL: target and auxiliary views; BYOL: two pipelines
        sizes = _crop_sizes(cfg)
        assert set(sizes) == {32}, key
        if key in ('mixssl', 'byol'):
            assert len(sizes) == 2, key
    # MoCo's queue must hold whole batches: 4096 -> 85 x 48
    assert load_config('mocov2', args).model.queue_len == 4080


def test_another_mixssl_config_gets_the_size_too(repo_cwd):
    """A 64-px config's crops are its full size: they become --size."""
    args = parse_throughput_args([
        *TINY, '--fused', '--mixssl-config',
        'configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py'
    ])
    cfg = load_config('mixssl', args)
    assert set(_crop_sizes(cfg)) == {32}
    assert cfg.optim_wrapper.optimizer.fused is True


def test_levers_run_through_the_tool(repo_cwd, tmp_path):
    """MixSSL alone with channels_last, fused Adam, the FLOP count and
    mmengine-style compile (eager backend: see tests/test_configs.py::
    test_mmengine_compile_runs_mixssl_with_the_fast_levers)."""
    result = main([
        *TINY, '--modes', 'synthetic', '--methods', 'mixssl',
        '--channels-last', '--fused', '--flops', '--compile',
        '--compile-backend', 'eager', '--mixssl-options',
        'model.neck.n_blocks=1', 'model.neck.ngf=32', '--md',
        str(tmp_path / 'r.md')
    ])
    (row, ) = result['results']
    assert row['config'] == METHODS['mixssl']['config']
    assert row['channels_last'] is True and row['fused'] is True
    assert row['compile'] == dict(backend='eager')
    assert row['decoder'] == dict(res_channels=256, ngf=32, n_blocks=1)
    assert row['gflop_per_step'] > 0
    assert len(row['step_ms']) == 2 and row['first_step_s'] > 0
    assert result['ratios'] == {}
    text = (tmp_path / 'r.md').read_text()
    assert 'GFLOP/step' in text and 'model.neck.ngf' in text


@pytest.mark.skipif(
    not DATA.exists(),
    reason='needs data/medmnist/bloodmnist.npz '
    '(python tools/data/fetch_bloodmnist.py)')
def test_loader_only(repo_cwd, tmp_path):
    result = main([
        *TINY, '--loader-only', '--methods', 'mixssl', 'simclr',
        '--num-workers', '0', '--md',
        str(tmp_path / 'r.md')
    ])
    rows = result['results']
    assert [(r['key'], r['mode']) for r in rows] == [('mixssl', 'pipeline'),
                                                     ('simclr', 'pipeline')]
    assert all(r['loader_samples_per_s'] > 0 and 'step_ms_median' not in r
               for r in rows)
    assert result['ratios'] == {}
    assert '| MixSSL | pipeline | - | - | - | - | - | - | - |' in \
        (tmp_path / 'r.md').read_text()


def test_bad_throughput_arguments_are_refused(capsys):
    for argv, msg in ((['--size', '48'], 'multiple of 32'),
                      (['--iters',
                        '0'], '--iters >= 1'), (['--methods',
                                                 'rand'], 'invalid choice')):
        with pytest.raises(SystemExit):
            parse_throughput_args(argv)
        assert msg in capsys.readouterr().err, argv
    args = parse_throughput_args(['--device', 'cpu', '--loader-only'])
    assert args.modes == ['pipeline']


def test_an_output_path_that_cannot_be_written_is_refused_first(
        tmp_path, capsys):
    # a file in the way failed with a raw FileExistsError after measuring
    (tmp_path / 'file').write_text('x')
    for argv in (['--out',
                  str(tmp_path / 'file' / 'r.json')], ['--md',
                                                       str(tmp_path)]):
        with pytest.raises(SystemExit):
            parse_throughput_args(argv)
        assert 'is in the way' in capsys.readouterr().err, argv
