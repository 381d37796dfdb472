"""mixssl_mm.benchmark.stage_configs / wrappers: the config each stage runs
for an image-folder target, an auxiliary folder (with and without labels),
a binary task, the BatchNorm re-estimation and the k-NN stage, checked on
generated folders by building what the stages build."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample
from sklearn.metrics import f1_score, precision_score, recall_score

import mixssl_mm  # noqa: F401 (registers the plugin's components)
from mixssl_mm.benchmark.cli import parse_benchmark_args
from mixssl_mm.benchmark.methods import METHODS
from mixssl_mm.benchmark.planning import Plan
from mixssl_mm.benchmark.stage_configs import load_config
from tests._helpers.image_folders import write_flat_folder, write_split_folders

CELLS = ['basophil', 'eosinophil', 'lymphocyte']


def _plan(*argv):
    return Plan(parse_benchmark_args(['--preset', 'tiny', *argv]))


@pytest.fixture
def cells(tmp_path):
    return write_split_folders(tmp_path / 'cells', CELLS,
                               dict(train=8, val=2, test=4))


def _loaded(path, options):
    """The config a stage loads: the written file with its cfg-options."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options, allow_list_keys=True)
    return cfg


def test_folder_target_and_labelled_aux_folder(repo_cwd, tmp_path, cells):
    aux = write_split_folders(tmp_path / 'imagenette', ['n01', 'n02'],
                              {'.': 3})
    plan = _plan('--data-root', cells, '--aux-root', aux, '--methods',
                 'mixssl', 'simclr', 'mixssl-ra', 'rand', '--work-dir',
                 str(tmp_path / 'w'))
    paths = {m: plan.pretrain_config(m) for m in ('mixssl', 'simclr')}
    assert all('/generated/configs/' in p for p in paths.values())
    written = plan.write_files()
    assert set(paths.values()) <= set(written)
    # R+A predicts the folder's classes
    assert plan.pretrain_options('mixssl_ra',
                                 0)['model.aux_head.num_classes'] == 2

    # MixSSL: the folder's train images, auxiliary images from the folder
    # the written file loads as the config the plan computed its options on
    for path in paths.values():
        assert Config.fromfile(path).to_dict() == plan.configs.config(
            path).to_dict()
    cfg = _loaded(paths['mixssl'], plan.pretrain_options('mixssl', 0))
    ds_cfg = cfg.train_dataloader.dataset
    assert (ds_cfg.type, ds_cfg.with_label,
            ds_cfg.indices) == ('CustomDataset', False, 128)
    mixup = ds_cfg.pipeline[6]
    assert mixup.type == 'CrossDomainMixup' and mixup.aux_dataset == aux
    assert mixup.aux_pipeline[0].type == 'LoadImageFromFile'
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == 24  # the train split, no val/test image
    sample = dataset[0]
    views = sample['inputs']
    assert [tuple(v.shape) for v in views] == [(3, 32, 32)] * 2
    assert sample['data_samples'].aux_label in (0, 1)
    assert sample['data_samples'].aux_num_classes == 2

    # SimCLR: the same images, its own views, no auxiliary images
    simclr = _loaded(paths['simclr'], plan.pretrain_options('simclr', 0))
    assert [t.type for t in simclr.train_dataloader.dataset.pipeline
            ] == ['LoadImageFromFile', 'MultiView', 'PackInputs']
    assert len(DATASETS.build(
        simclr.train_dataloader.dataset)[0]['inputs']) == 2

    # downstream: labelled train/test lists with the task's class names
    linear = plan.protocol_config('linear')
    test = _loaded(linear, plan.test_options('linear', 0))
    test_set = DATASETS.build(test.test_dataloader.dataset)
    assert len(test_set) == 12 and test_set.metainfo['classes'] == tuple(CELLS)
    assert test_set[0]['inputs'].shape == (3, 32, 32)
    assert test.val_dataloader is None
    train_set = DATASETS.build(
        _loaded(linear,
                plan.downstream_train_options('linear', 0,
                                              None)).train_dataloader.dataset)
    labels = [train_set.get_data_info(i)['gt_label'] for i in range(24)]
    assert sorted(labels) == sorted([0, 1, 2] * 8)
    assert labels[:12] != sorted(labels[:12])  # shuffled once, seed 0


def test_unlabelled_aux_folder(repo_cwd, tmp_path, cells):
    aux = write_flat_folder(tmp_path / 'photos', 5)
    plan = _plan('--data-root', cells, '--aux-root', aux, '--methods',
                 'mixssl', '--work-dir', str(tmp_path / 'w'))
    plan.write_files()
    cfg = _loaded(
        plan.pretrain_config('mixssl'), plan.pretrain_options('mixssl', 0))
    sample = DATASETS.build(cfg.train_dataloader.dataset)[0]
    assert 'aux_label' not in sample['data_samples']
    with pytest.raises(SystemExit, match='without class sub-folders'):
        _plan('--data-root', cells, '--aux-root', aux, '--methods',
              'mixssl-ra')


def test_aux_folder_on_medmnist_changes_only_the_pipeline(repo_cwd, tmp_path):
    aux = write_flat_folder(tmp_path / 'photos', 5)
    plan = _plan('--aux-root', aux, '--methods', 'mixssl', 'mocov2',
                 '--recipe', 'paper', '--work-dir', str(tmp_path / 'w'))
    assert plan.pretrain_config('mocov2') == METHODS['mocov2']['config']
    cfg = plan.configs.config(plan.pretrain_config('mixssl'))
    assert cfg.train_dataloader.dataset.type == 'MedMNIST'
    assert cfg.train_dataloader.dataset.pipeline[5].aux_dataset == aux
    # the shipped downstream configs: nothing to change there
    assert plan.protocol_config('finetune') == plan.downstream['finetune']


def test_paper_recipe_keeps_the_shipped_configs(repo_cwd, tmp_path):
    plan = _plan('--methods', 'all', '--recipe', 'paper', '--classes', '4',
                 '--work-dir', str(tmp_path))
    for m in plan.methods:
        if METHODS[m]['config']:
            assert plan.pretrain_config(m) == METHODS[m]['config'], m
    assert plan.protocol_config('finetune') == plan.downstream['finetune']
    # the linear probe's wrapper only trains on clean views
    assert plan.configs.downstream_overrides('linear') == dict(
        train_dataloader=dict(
            dataset=dict(
                pipeline=load_config(plan.downstream['linear']).
                test_dataloader.dataset.pipeline)))
    # and the k-NN stage's
    knn = plan.configs.config(plan.knn_config())
    hook, = knn.custom_hooks
    assert (hook.type, hook.interval, hook.before_train) == ('KNNEvalHook', 0,
                                                             True)
    bank, query = hook.bank_dataset, hook.query_dataset
    assert (bank.split, bank.indices,
            tuple(bank.classes_subset)) == ('train', 128, (1, 4, 5, 6))
    assert (query.split, tuple(query.classes_subset)) == ('test', (1, 4, 5, 6))
    assert 'indices' not in query
    assert bank.pipeline == query.pipeline
    assert [t['type'] for t in bank.pipeline] == ['Resize', 'PackInputs']
    assert bank.pipeline[0]['scale'] == (32, 32)
    assert plan.knn_options(3, '/c.pth')['train_cfg.max_epochs'] == 0


def test_binary_task_adds_the_positive_class_metric(repo_cwd, tmp_path):
    root = write_split_folders(tmp_path / 'cin', ['CIN1', 'CIN2+'],
                               dict(train=10, test=5))
    plan = _plan('--data-root', root, '--positive-class', 'CIN1', '--work-dir',
                 str(tmp_path / 'w'))
    assert plan.positive == 0
    cfg = plan.configs.config(plan.protocol_config('finetune'))
    assert [m['type'] for m in cfg.test_evaluator] == [
        'Accuracy', 'SingleLabelMetric', 'PerClassAccuracy', 'ROCAUC',
        'PositiveClassMetric'
    ]
    # the evaluator the test stage builds scores class 0 as positive
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dict(classes=('CIN1', 'CIN2+'))
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 10)
    scores = rng.dirichlet((1, 1), len(labels))
    evaluator.process([
        DataSample().set_gt_label(int(y)).set_pred_score(s)
        for y, s in zip(labels, scores)
    ])
    m = evaluator.evaluate(len(labels))
    pred = scores.argmax(1)
    for key, fn in (('precision', precision_score), ('recall', recall_score),
                    ('f1-score', f1_score)):
        assert m[f'binary/{key}'] == pytest.approx(
            100 * fn(labels, pred, pos_label=0))
    # not binary: no positive class
    with pytest.raises(SystemExit, match='binary task'):
        _plan('--positive-class', '1')


def test_recalibrate_bn_reaches_linear_probe_and_knn_only(repo_cwd, tmp_path):
    plan = _plan('--recalibrate-bn', '--work-dir', str(tmp_path))
    linear = plan.configs.config(plan.protocol_config('linear'))
    assert [h['type'] for h in linear.custom_hooks] == ['BNRecalibrationHook']
    assert not plan.configs.config(
        plan.protocol_config('finetune')).get('custom_hooks')
    knn = plan.configs.config(plan.knn_config())
    assert [h['type'] for h in knn.custom_hooks
            ] == ['BNRecalibrationHook', 'KNNEvalHook']
    # the statistics of the clean train subset: k-NN's bank, test pipeline
    bank = knn.custom_hooks[1].bank_dataset
    for hook in (linear.custom_hooks[0], knn.custom_hooks[0]):
        assert hook.dataset == bank
    assert (bank.indices, bank.pipeline[0]['type']) == (128, 'Resize')


def test_generated_names_follow_the_content(repo_cwd, tmp_path, cells):
    argv = [
        '--data-root', cells, '--methods', 'rand', '--work-dir',
        str(tmp_path / 'w')
    ]
    before = _plan(*argv).protocol_config('linear')
    assert _plan(*argv).protocol_config('linear') == before
    write_split_folders(cells, CELLS[:1], dict(test=5))  # one more image
    assert _plan(*argv).protocol_config('linear') != before
