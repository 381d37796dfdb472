"""tools/analysis_tools/lambda_shortcut.py runs end to end on real
BloodMNIST (two tiny trainings through the Runner, held-out λ̂ errors)."""
import glob
import json
import os.path as osp
import runpy

import pytest

from tests._helpers.training import REPO

TOOL = osp.join(REPO, 'tools/analysis_tools/lambda_shortcut.py')
MAIN = osp.join(REPO, 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')


def test_lambda_shortcut_measures_both_modes(tmp_path):
    assert osp.exists(osp.join(REPO, 'data/medmnist/bloodmnist.npz')), \
        'fetch the data first: python tools/data/fetch_bloodmnist.py'
    tool = runpy.run_path(TOOL)
    work = tmp_path / 'work'
    results = tool['main']([
        MAIN, '--iters', '2', '--depth', '18', '--width', '8', '--img-size',
        '32', '--batch-size', '4', '--train-subset', '8', '--eval-batches',
        '2', '--work-dir',
        str(work), '--cfg-options', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f"train_dataloader.dataset.data_root={osp.join(REPO, 'data/medmnist')}"
    ])
    assert set(results) == {'batch', 'sample'}
    for res in results.values():
        assert set(res) == {
            f'{t}/{bn}'
            for t in ('one', 'sample')
            for bn in ('train', 'eval', 'const')
        }
        assert all(0 <= v <= 1 for v in res.values())
    # the tests' λs are the tool's own: the same for both models
    assert results['batch']['one/const'] == results['sample']['one/const']
    saved = json.load(open(work / 'lambda_shortcut.json'))
    for mode, res in results.items():
        assert saved['results'][mode] == pytest.approx(res)
    assert not (work / 'lam_batch' / 'iter_2.pth').exists()  # no checkpoints
    # each mode's Runner logs to its own work_dir (not the first one's)
    for mode in results:
        logs = glob.glob(str(work / f'lam_{mode}' / '*' / '*.log'))
        assert len(logs) == 1, logs
        assert f'lam_{mode}' in open(logs[0]).read()


def test_a_work_dir_in_a_file_is_refused_before_training(tmp_path, capsys):
    from mixssl_mm.analysis.lambda_shortcut import parse_args
    (tmp_path / 'file').write_text('x')
    with pytest.raises(SystemExit):
        parse_args(['x.py', '--work-dir', str(tmp_path / 'file' / 'w')])
    assert f'{tmp_path}/file is a file' in capsys.readouterr().err
