"""mixssl_mm.benchmark.runner: the stage subprocesses (skip, resume,
fingerprints, parallel chains), the whole plan as a dry run, a real stage
that fails (the benchmark goes on, reports it and exits 1) and the closing
lines. The successful end-to-end run is tests/test_tools/test_benchmark.py;
every command line of a few plans: test_dry_run_golden.py."""
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

from mixssl_mm.benchmark.report import RESULT_FILES, closing_lines
from mixssl_mm.benchmark.runner import (StageFailed, StageRunner, main,
                                        run_chains, same_settings)
from tests._helpers.image_folders import write_npz


def _py(code):
    return [sys.executable, '-c', code]


def _runner(work, **kw):
    return StageRunner(
        str(work), total=3, threads=kw.pop('threads', None), **kw)


def test_a_stage_runs_once_then_is_skipped(tmp_path, capsys):
    runner = _runner(tmp_path, threads=3)
    sdir = str(tmp_path / 'm' / 'seed0' / 'pretrain')
    cmd = _py('import os; print("threads", os.environ["OMP_NUM_THREADS"])')
    res = runner.run_stage('m pretrain', sdir, cmd, lambda: dict(x=1))
    assert res == dict(x=1) and (runner.n_run, runner.n_skipped) == (1, 0)
    assert 'threads 3' in (tmp_path / 'm/seed0/pretrain/stage.log').read_text()
    done = json.loads((tmp_path / 'm/seed0/pretrain/done.json').read_text())
    assert done['result'] == dict(x=1) and done['seconds'] >= 0
    # the interpreter is left out; the work dir is a placeholder
    assert done['fingerprint'] == cmd[1:]
    assert '[ 1/3] m pretrain: done in' in capsys.readouterr().out

    again = _runner(tmp_path)
    assert again.run_stage('m pretrain', sdir, cmd + ['--resume'],
                           lambda: pytest.fail('ran again')) == dict(x=1)
    assert (again.n_run, again.n_skipped) == (0, 1)
    assert again.stage_seconds == done['seconds']
    assert 'done before, skipped' in capsys.readouterr().out


def test_changed_settings_are_refused_unless_ignored(tmp_path):
    sdir = str(tmp_path / 's')
    _runner(tmp_path).run_stage('s', sdir, _py('pass'), dict)
    with pytest.raises(SystemExit, match='finished with other settings'):
        _runner(tmp_path).run_stage('s', sdir, _py('pass;'), dict)
    assert _runner(
        tmp_path, ignore_changes=True).run_stage('s', sdir, _py('pass;'),
                                                 dict) == {}


def test_a_stage_whose_input_is_missing_is_not_started(tmp_path, capsys):
    sdir, config = tmp_path / 's', tmp_path / 'generated' / 'x.py'
    with pytest.raises(StageFailed, match=f's: input {config} is missing'):
        _runner(tmp_path).run_stage(
            's', str(sdir), _py('pass'), dict, inputs=[str(config)])
    assert not sdir.exists()
    assert f'not started, its input {config} is missing' in \
        capsys.readouterr().out
    config.parent.mkdir()
    config.write_text('')
    assert _runner(tmp_path).run_stage(
        's', str(sdir), _py('pass'), dict, inputs=[str(config)]) == {}


def test_a_done_stage_without_a_needed_output_runs_again(tmp_path):
    sdir, out = tmp_path / 't', tmp_path / 't' / 'predictions.pkl'
    _runner(tmp_path).run_stage('t', str(sdir), _py('pass'), dict)  # older
    write = _py(f'open({str(out)!r}, "w").write("p")')
    runner = _runner(tmp_path)
    assert runner.run_stage(
        't', str(sdir), write, lambda: dict(y=2),
        outputs=[str(out)]) == dict(y=2)
    assert runner.n_run == 1 and out.read_text() == 'p'
    again = _runner(tmp_path)  # now complete: skipped
    again.run_stage('t', str(sdir), write, dict, outputs=[str(out)])
    assert (again.n_run, again.n_skipped) == (0, 1)


def test_stages_done_by_the_former_script_tools_count_as_done(tmp_path):
    runner = _runner(tmp_path)
    cmd = [
        sys.executable, '-m', 'mixssl_mm.apis.train', 'c.py', '--work-dir',
        str(tmp_path / 'w')
    ]
    fp = runner.fingerprint(cmd)
    assert fp == [
        '-m', 'mixssl_mm.apis.train', 'c.py', '--work-dir', '<work_dir>/w'
    ]
    legacy = ['<repo>/tools/train.py', 'c.py', '--work-dir', '<work_dir>/w']
    assert same_settings(legacy, fp)
    assert not same_settings(['<repo>/tools/test.py'] + legacy[1:], fp)


def test_a_failed_stage_shows_its_log(tmp_path, capsys):
    runner = _runner(tmp_path)
    sdir = tmp_path / 'f'
    with pytest.raises(StageFailed, match='m finetune'):
        runner.run_stage('m finetune', str(sdir),
                         _py('import sys; print("boom"); sys.exit(3)'), dict)
    out = capsys.readouterr().out
    assert 'FAILED (exit 3)' in out and '    boom' in out
    assert not (sdir / 'done.json').exists()


def test_dry_run_writes_nothing(tmp_path, capsys):
    runner = _runner(tmp_path, dry_run=True)
    assert runner.run_stage('d', str(tmp_path / 'd'), _py('x'), dict) == {}
    assert 'would run' in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_verbose_streams_the_output(tmp_path, capsys):
    _runner(
        tmp_path, verbose=True).run_stage('v', str(tmp_path / 'v'),
                                          _py('print("hello")'), dict)
    assert '    | hello' in capsys.readouterr().out


def test_chains_run_side_by_side():
    active, peak, lock = [0], [0], threading.Lock()

    def chain(_):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1

    run_chains(range(4), chain, jobs=2)
    assert peak[0] == 2
    order = []
    run_chains(range(3), order.append, jobs=1)
    assert order == [0, 1, 2]


def test_dry_run_plans_every_stage(repo_cwd, tmp_path, capsys):
    assert main([
        '--preset', 'cpu-small', '--dry-run', '--work-dir',
        str(tmp_path), '--seeds', '0', '--classes', '8'
    ]) == 0
    log = capsys.readouterr().out
    # 4 pretrained methods x (pretrain + 2 x (train + test) + k-NN) + Rand x 5
    assert '29 stages, 2 at a time' in log
    assert log.count('would run') == 29
    assert log.count('-m mixssl_mm.apis.train') == 19
    assert log.count('-m mixssl_mm.apis.test') == 10
    # k-NN: a 0-epoch run of a generated config (not written on a dry run)
    assert log.count('train_cfg.max_epochs=0') == 5
    assert log.count('/generated/configs/knn-') == 5
    # every training stage runs a wrapper with the recipe (recipe.py)
    for cfg in ('simclr_pretrain-', 'mocov2_pretrain-', 'byol_pretrain-',
                'mixssl_pretrain-', 'linear-', 'finetune-'):
        assert f'/generated/configs/{cfg}' in log, cfg
    assert log.count('param_scheduler.0.end=') == 4 + 5 * 2
    assert 'randomness.seed=0' in log
    assert "'model.backbone.init_cfg.checkpoint=<pretrain checkpoint>'" \
        in log
    # Rand: its random start, a pretraining stage's init
    assert log.count('model.backbone.init_cfg.checkpoint=' +
                     str(tmp_path / 'rand_start' / 'seed0' / 'encoder' /
                         'backbone.pth')) == 3
    assert 'model.backbone.init_cfg=None' not in log.replace(
        'apis.test', '\n').split('\n')[0]
    assert 'classes_subset' not in log  # --classes 8
    assert not os.listdir(tmp_path)  # nothing run, nothing written


def test_a_failing_stage_is_reported_and_the_rest_goes_on(
        repo_cwd, tmp_path, capsys):
    work = tmp_path / 'bench'
    # labels the benchmark reads, images the MedMNIST dataset refuses
    npz = write_npz(tmp_path / 'bad.npz',
                    dict(train=[0, 1] * 4, test=[0, 1] * 2))
    with np.load(npz) as f:
        arrays = dict(f)
    arrays['train_images'] = arrays['train_images'].astype(np.float32)
    np.savez(npz, **arrays)
    rc = main([
        '--preset', 'tiny', '--methods', 'rand', '--protocols', 'linear',
        'finetune', '--threads', '1', '--ann-file', npz, '--work-dir',
        str(work)
    ])
    out = capsys.readouterr().out
    assert rc == 1
    # both protocols were tried although the first one failed
    assert 'FAILED: rand seed 0: rand seed 0 linear' in out
    assert 'FAILED: rand seed 0: rand seed 0 finetune' in out
    assert '0 stages run, 0 skipped, 2 failed' in out
    log = (work / 'rand' / 'seed0' / 'linear' / 'stage.log').read_text()
    assert log.startswith('$ ') and 'No module named' not in log
    md = (work / 'results.md').read_text()
    assert md.endswith('## Not finished\n\n- Rand linear probe, seed 0\n'
                       '- Rand fine-tune, seed 0\n\n')
    assert (work / 'results.csv').read_text().strip() == 'method'
    assert not (work / 'results.png').exists()


def _records():
    return [
        dict(
            method=m,
            protocol=p,
            seed=s,
            metrics={'accuracy/top1': 80.0 + s - (m == 'rand') * 9})
        for m in ('mixssl', 'rand') for s in (0, 1)
        for p in ('finetune', 'linear')
    ]


def test_closing_lines_summarise_top1_and_name_every_file(tmp_path):
    for name, _ in RESULT_FILES:
        (tmp_path / name).write_text('x')
    lines = closing_lines(
        str(tmp_path), _records(), ['mixssl', 'rand'], inputs=['a.py', 'b.py'])
    text = '\n'.join(lines)
    for name in ('results.md', 'results.csv', 'deltas.csv', 'results.png'):
        assert str(tmp_path / name) in text, name
    assert '2 generated stage inputs' in text
    # a row per method, a column per protocol: mean ± std over 2 seeds
    rows = [line for line in lines if line.startswith('| ')]
    assert len(rows) == 3  # header + MixSSL + Rand
    assert rows[1].startswith('| MixSSL | 80.50 ± 0.71 (n=2) |')
    assert rows[2].startswith('| Rand | 71.50 ± 0.71 (n=2) |')
    assert len(lines) < 20  # a summary, not results.md


def test_closing_lines_name_only_files_that_exist(tmp_path):
    (tmp_path / 'results.md').write_text('x')
    text = '\n'.join(closing_lines(str(tmp_path), [], ['mixssl']))
    assert '(no finished test stage)' in text
    assert str(tmp_path / 'results.md') in text
    assert 'results.png' not in text and 'generated' not in text
