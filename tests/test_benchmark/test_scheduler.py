"""mixssl_mm.benchmark.scheduler with real (tiny) subprocesses: a stage
runs once, is skipped when done, is refused when its command changed, and a
failure shows the log's tail; chains run side by side."""
import json
import sys
import threading
import time

import pytest

from mixssl_mm.benchmark.scheduler import (StageFailed, StageRunner,
                                           run_chains, same_settings)


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
