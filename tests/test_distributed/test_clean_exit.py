"""A completed run ends its data-loader workers and its process group, so it
exits 0 every time (a finished 2-process gloo run used to lose rank 1 to
``terminate called without an active exception`` at interpreter exit, now
and then, under load; see mixssl_mm/apis/teardown.py, tested on its own
in tests/test_apis/test_teardown.py)."""
import os.path as osp
import subprocess

from mixssl_mm.analysis.shrink import shrink_options
from mixssl_mm.benchmark.planning import to_cfg_options
from tests._helpers.dist_launch import (CRASH_MARKERS, REPO, dist_env,
                                        parsed_config)

CONFIG = 'configs/simclr/simclr_resnet50_1xb64-20e_bloodmnist.py'
REPEATS = 3


def test_two_process_runs_exit_zero_every_time(tiny_data, tmp_path):
    """REPEATS launches at once (the load under which the abort showed up),
    each with a persistent data-loader worker per rank."""
    opts = to_cfg_options(
        shrink_options(
            parsed_config(CONFIG), medmnist=tiny_data.medmnist, num_workers=1))
    procs = [
        subprocess.Popen([
            'bash',
            osp.join(REPO, 'tools/dist_train.sh'),
            osp.join(REPO, CONFIG), '2', '--work-dir',
            str(tmp_path / f'run{i}'), '--cfg-options', *opts
        ],
                         cwd=str(tmp_path),
                         env=dist_env(),
                         text=True,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT) for i in range(REPEATS)
    ]
    try:
        logs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-4000:]
        assert not [m for m in CRASH_MARKERS if m in log], log[-4000:]
        assert 'Saving checkpoint at 1 epochs' in log
