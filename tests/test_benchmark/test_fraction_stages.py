"""mixssl_mm.benchmark.planning: label fractions in real plans: the
protocols, the subset fixed per seed and identical for every method (dry
run), drawn from the full fine-tune's pool, in the generated config the
stage loads (MedMNIST file and image folder), with the full fine-tune's
optimizer steps."""
import json
import re

import numpy as np
from mmengine.config import Config

from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.planning import Plan, expand_protocols
from mixssl_mm.benchmark.runner import main
from tests._helpers.image_folders import write_npz, write_split_folders


def _plan(*argv):
    return Plan(parse_benchmark_args(list(argv)))


def test_protocols_per_fraction():
    assert expand_protocols(['finetune', 'linear', 'knn'], [0.01, 1.0]) == [
        'finetune_1pct', 'finetune', 'linear', 'knn'
    ]
    assert expand_protocols(['linear'], [0.1]) == ['linear']


def test_dry_run_gives_every_method_the_seeds_subset(repo_cwd, tmp_path,
                                                     capsys):
    assert main([
        '--preset', 'tiny', '--dry-run', '--methods', 'mixssl', 'rand',
        'simclr', '--seeds', '0', '1', '--protocols', 'finetune',
        '--label-fractions', '0.1', '1.0', '--work-dir',
        str(tmp_path)
    ]) == 0
    log = capsys.readouterr().out
    runs = [line for line in log.splitlines() if '-m mixssl_mm.apis.' in line]
    configs = {}
    for line in runs:
        m = re.search(
            r'(\S+/generated/configs/finetune_10pct_seed(\d)-'
            r'\w+\.py) --work-dir \S+/(\w+)/seed\d/finetune_10pct ', line)
        if m:
            configs.setdefault(m.group(2), set()).add(m.group(1))
            assert 'train_cfg.max_epochs=4' in line  # 13 images: 1 step
            assert 'train_dataloader.dataset.indices' not in line
    # one config per seed, the same for the three methods
    assert set(configs) == {'0', '1'}
    assert all(len(v) == 1 for v in configs.values())
    assert configs['0'] != configs['1']
    assert sum('/finetune_10pct ' in r for r in runs) == 6
    tests = [r for r in runs if 'apis.test' in r]
    assert len(tests) == 12 and all(
        'default_hooks.dump_predictions.type=DumpPredictionsHook' in r
        for r in tests)


def test_subsets_are_stratified_in_the_pool_and_in_the_config(
        repo_cwd, tmp_path):
    plan = _plan('--preset', 'tiny', '--label-fractions', '0.1', '0.5', '1',
                 '--classes', '4', '--work-dir', str(tmp_path))
    assert plan.protocols[:3] == [
        'finetune_10pct', 'finetune_50pct', 'finetune'
    ]
    labels, classes, pool = plan.fraction_stages.pool()
    assert pool.tolist() == list(range(128))  # tiny: the first 128
    assert classes == ['eosinophil', 'lymphocyte', 'monocyte', 'neutrophil']
    sub = plan.fraction_stages.subset('finetune_10pct', 0)
    assert set(sub.indices) <= set(range(128))
    pool_counts = np.bincount(labels[pool], minlength=4)
    assert sub.pool_counts == pool_counts.tolist()
    assert all(abs(c - 0.1 * n) <= 1 for c, n in zip(sub.counts, pool_counts))
    assert min(sub.counts) >= 1
    written = plan.write_files()
    record = tmp_path / 'label_fractions' / 'seed0_10pct.json'
    assert str(record) in written
    assert json.loads(record.read_text())['indices'] == sub.indices
    # the stage's config trains on exactly these images
    cfg = Config.fromfile(plan.train_config('finetune_10pct', 0))
    assert cfg.train_dataloader.dataset.indices == sub.indices
    assert cfg.train_dataloader.dataset.classes_subset == (1, 4, 5, 6)
    assert plan.train_config('finetune', 0) == plan.protocol_config(
        'finetune_10pct')  # its test: the fine-tune's


def test_the_users_indices_set_the_pool(repo_cwd, tmp_path):
    opt = 'train_dataloader.dataset.indices=256'
    plan = _plan('--preset', 'tiny', '--label-fractions', '0.1', '1',
                 '--downstream-cfg-options', opt, 'a=1')
    assert len(plan.fraction_stages.pool()[2]) == 256
    assert plan.train_extra('finetune_10pct') == ['a=1']
    assert plan.train_extra('finetune') == [opt, 'a=1']
    o = plan.downstream_train_options('finetune_10pct', 0, None)
    assert 'train_dataloader.dataset.indices' not in o
    # 26 images = 1 batch of 32; 256 images = 8 batches: 8 epochs
    assert o['train_cfg.max_epochs'] == 8
    assert o['default_hooks.checkpoint.interval'] == 8


def test_image_folder_subsets(repo_cwd, tmp_path):
    root = write_split_folders(tmp_path / 'cells', ['a', 'b', 'c'], {
        'train': 20,
        'test': 4
    })
    plan = _plan('--preset', 'tiny', '--data-root', root, '--seeds', '1',
                 '--label-fractions', '0.1', '1', '--work-dir',
                 str(tmp_path / 'w'))
    sub = plan.fraction_stages.subset('finetune_10pct', 1)
    assert sub.classes == ['a', 'b', 'c'] and sub.counts == [2, 2, 2]
    plan.write_files()
    cfg = Config.fromfile(plan.train_config('finetune_10pct', 1))
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'CustomDataset' and ds.indices == sub.indices
    # the images a stage would train on are of the three classes, 2 each
    lines = open(ds.ann_file).read().split('\n')
    picked = [lines[i].split()[1] for i in sub.indices]
    assert sorted(picked) == ['0', '0', '1', '1', '2', '2']


def test_small_pools_keep_every_class(repo_cwd, tmp_path):
    npz = write_npz(tmp_path / 'x.npz',
                    dict(train=[0] * 30 + [1] * 3, test=[0, 1] * 2))
    plan = _plan('--preset', 'tiny', '--ann-file', npz, '--num-classes', '2',
                 '--label-fractions', '0.01', '1')
    sub = plan.fraction_stages.subset('finetune_1pct', 0)
    # 1 % of 33 rounds to 0: the class count (2) is drawn, stratified (both
    # from the large class), and the empty class gets one image
    assert sub.counts == [2, 1] and sub.pool_counts == [30, 3]
