"""mixssl_mm.benchmark.orchestration: the whole plan as a dry run, and a
real stage that fails (the benchmark goes on, reports it and exits 1). The
successful end-to-end run is tests/test_tools/test_benchmark.py."""
import os

import numpy as np

from mixssl_mm.benchmark.orchestration import main
from tests._helpers.image_folders import write_npz


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
