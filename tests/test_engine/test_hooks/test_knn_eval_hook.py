"""KNNEvalHook and the weighted k-NN it computes.

The k-NN math is checked against a brute-force numpy loop; the hook runs
inside real mmengine Runners (a tiny MixSSL on generated image folders and
mmpretrain's own SimCLR config), and its number is recomputed by hand from
the trained backbone.
"""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import uuid

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mixssl_mm.engine.hooks.knn_eval_hook import KNNEvalHook
from mixssl_mm.evaluation.functional import (knn_class_scores, knn_predict,
                                             knn_top1)
from tests._helpers.mixssl_runner import (IMAGENET_MEAN, IMAGENET_STD,
                                          mixssl_runner_cfg)
from tests.conftest import write_image_folder

MEAN, STD = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
SIZE = 32
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def brute_force_knn(bank, bank_labels, queries, k, T, num_classes):
    """One query at a time, straight from the definition."""
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = np.zeros((len(queries), num_classes))
    for q, query in enumerate(queries):
        sims = bank @ query
        for i in np.argsort(-sims)[:k]:
            scores[q, bank_labels[i]] += np.exp(sims[i] / T)
    return scores


# ---------------------------------------------------------------- math
@pytest.mark.parametrize('k,T,chunk', [(20, 0.07, 1024), (1, 0.07, 7),
                                       (5, 0.5, 3), (60, 0.1, 16)])
def test_knn_matches_brute_force(k, T, chunk):
    rng = np.random.default_rng(k)
    bank = rng.normal(size=(60, 16))
    labels = rng.integers(0, 4, 60)
    queries = rng.normal(size=(25, 16))
    query_labels = rng.integers(0, 4, 25)
    expect = brute_force_knn(bank, labels, queries, k, T, 4)

    args = (torch.from_numpy(bank).float(), torch.from_numpy(labels),
            torch.from_numpy(queries).float())
    scores = knn_class_scores(
        *args, k=k, temperature=T, num_classes=4, chunk_size=chunk)
    np.testing.assert_allclose(scores.numpy(), expect, rtol=1e-4)
    pred = knn_predict(*args, k=k, temperature=T, chunk_size=chunk)
    np.testing.assert_array_equal(pred.numpy(), expect.argmax(1))
    top1 = knn_top1(
        *args,
        torch.from_numpy(query_labels),
        k=k,
        temperature=T,
        chunk_size=chunk)
    assert top1 == pytest.approx(100 *
                                 np.mean(expect.argmax(1) == query_labels))


def test_votes_are_weighted_not_counted():
    # one very close neighbour of class 0 outvotes two far ones of class 1:
    # exp(0.99 / 0.07) > 2 exp(0.5 / 0.07); a plain majority vote says 1
    bank = torch.tensor([[0.99, 0.141], [0.5, 0.866], [0.5, -0.866]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.0]])
    assert knn_predict(bank, labels, query, k=3).item() == 0
    assert knn_predict(bank, labels, query, k=3, temperature=10).item() == 1
    assert knn_top1(bank, labels, query, torch.tensor([0]), k=3) == 100.0


def test_knn_refusals():
    bank, labels = torch.randn(5, 4), torch.arange(5) % 2
    with pytest.raises(ValueError, match='k=6 neighbours .* only 5'):
        knn_predict(bank, labels, torch.randn(2, 4), k=6)
    with pytest.raises(ValueError, match='dimension 4 but queries have 3'):
        knn_predict(bank, labels, torch.randn(2, 3), k=2)
    with pytest.raises(ValueError, match='temperature'):
        knn_predict(bank, labels, torch.randn(2, 4), k=2, temperature=0)
    with pytest.raises(TypeError, match='integer'):
        knn_predict(bank, labels.float(), torch.randn(2, 4), k=2)
    with pytest.raises(ValueError, match='num_classes is 1'):
        knn_predict(bank, labels, torch.randn(2, 4), k=2, num_classes=1)


# ---------------------------------------------------------------- runners
@pytest.fixture
def folders(tmp_path):
    """Labelled bank (8 images, 2 classes), queries (6), aux photos (4)."""
    return dict(
        bank=write_image_folder(tmp_path / 'bank', 8, SIZE, seed=1),
        query=write_image_folder(tmp_path / 'query', 6, SIZE, seed=2),
        aux=write_image_folder(tmp_path / 'aux', 4, SIZE, ('x', ), seed=3))


def eval_dataset(root):
    return dict(
        type='CustomDataset',
        data_root=root,
        with_label=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(SIZE, SIZE)),
            dict(type='PackInputs')
        ])


def knn_hook(folders, **kwargs):
    return dict(
        type='KNNEvalHook',
        bank_dataset=eval_dataset(folders['bank']),
        query_dataset=eval_dataset(folders['query']),
        batch_size=4,
        num_workers=0,
        **{
            'k': 3,
            **kwargs
        })


def mixssl_cfg(work_dir, folders, hooks, max_epochs=2):
    """Tiny MixSSL training on the (unlabelled) bank images."""
    return mixssl_runner_cfg(
        work_dir,
        folders['bank'],
        folders['aux'],
        hooks,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        crop=SIZE)


def logged_knn(work_dir, key='knn/top1'):
    """The k-NN lines of the run's scalars.json."""
    (path, ) = glob.glob(
        osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    return [line for line in lines if key in line]


def embed_by_hand(backbone, root):
    """Pooled features and labels of a class-folder tree, without the
    hook's code: cv2 read + resize, BGR->RGB, mean/std, backbone, mean."""
    paths = sorted(glob.glob(osp.join(root, '*', '*.jpg')))
    classes = sorted({osp.basename(osp.dirname(p)) for p in paths})
    imgs = []
    for p in paths:
        img = cv2.resize(
            cv2.imread(p), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        imgs.append((img[..., ::-1] - MEAN) / STD)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        feats = backbone(x)[-1].mean((2, 3))
    backbone.train(was_training)
    labels = [classes.index(osp.basename(osp.dirname(p))) for p in paths]
    return feats.numpy().astype(np.float64), np.array(labels)


def check_features_by_hand(backbone, roots, feats):
    """Assert that the hook's ``extract_features`` output ``feats`` equals
    :func:`embed_by_hand` of the ``roots`` (bank and query folders),
    normalised; return the brute-force k-NN top-1 (k=3) of those."""
    hand = {
        role: embed_by_hand(backbone, roots[role])
        for role in ('bank', 'query')
    }
    for role, (x, y) in hand.items():
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        np.testing.assert_allclose(feats[role][0].numpy(), x, atol=1e-4)
        np.testing.assert_array_equal(feats[role][1].numpy(), y)
    (bank, bank_labels), (query, query_labels) = hand['bank'], hand['query']
    scores = brute_force_knn(bank, bank_labels, query, 3, 0.07, 2)
    return 100 * np.mean(scores.argmax(1) == query_labels)


def test_hook_in_mixssl_run(tmp_path, folders, one_thread):
    work_dir = tmp_path / 'work'
    runner = Runner.from_cfg(
        mixssl_cfg(work_dir, folders, [knn_hook(folders, before_train=True)]))
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, KNNEvalHook))

    # the initial weights, then once per epoch; the end-of-training
    # evaluation is not repeated
    assert [(r['epoch'], r['iter']) for r in hook.results] == [(0, 0), (1, 2),
                                                               (2, 4)]
    assert all(r['bank_size'] == 8 and r['num_queries'] == 6
               for r in hook.results)
    logged = logged_knn(work_dir)
    assert [line['step'] for line in logged] == [0, 1, 2]
    assert [line['knn/top1']
            for line in logged] == [r['top1'] for r in hook.results]
    assert runner.message_hub.get_scalar('knn/top1').current() == \
        hook.results[-1]['top1']
    backbone = runner.model.backbone
    assert backbone.training  # train mode restored

    # the features: the user's pipeline, then the model's preprocessor
    # (BGR->RGB, mean/std), then pooling and L2 normalisation
    feats = hook.extract_features(runner)
    assert backbone.training
    # the last number, recomputed by brute force from those features
    expect = check_features_by_hand(backbone, folders, feats)
    assert hook.results[-1]['top1'] == pytest.approx(expect)


def test_hook_by_iteration(tmp_path, folders):
    # iteration-based loop: every 2 iterations, and the end (iteration 3)
    cfg = mixssl_cfg(tmp_path / 'work', folders,
                     [knn_hook(folders, interval=2, by_epoch=False)])
    cfg.train_cfg = dict(by_epoch=False, max_iters=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert [line['step'] for line in logged_knn(tmp_path / 'work')] == [2, 3]


def test_hook_in_mmpretrain_simclr_config(tmp_path, folders, one_thread):
    # the snippet of docs/online_eval.md, on mmpretrain's own SimCLR config,
    # with tiny data swapped in
    cfg_file = tmp_path / 'simclr_knn.py'
    cfg_file.write_text(f"""
_base_ = 'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py'
custom_imports = dict(imports=['mixssl_mm'], allow_failed_imports=False)
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={SIZE}),
    dict(type='PackInputs'),
]
custom_hooks = [
    dict(
        type='KNNEvalHook',
        bank_dataset=dict(type='CustomDataset', data_root={folders['bank']!r},
                          pipeline=knn_pipeline),
        query_dataset=dict(type='CustomDataset',
                           data_root={folders['query']!r},
                           pipeline=knn_pipeline),
        k=3, interval=1, batch_size=4, num_workers=0),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    # the inherited dict carries mmengine's `_scope_` key, which
    # default_collate() does not accept (as in the baselines' configs)
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(
        _delete_=True, type='CustomDataset', data_root={folders['bank']!r},
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[[
                dict(type='RandomResizedCrop', scale={SIZE}),
                dict(type='RandomFlip', prob=0.5)]]),
            dict(type='PackInputs'),
        ]))
train_cfg = dict(max_epochs=1)
default_hooks = dict(checkpoint=None)
""")
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'test_knn_simclr_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    logged = logged_knn(tmp_path / 'work')
    assert [line['step'] for line in logged] == [1]
    assert 0 <= logged[0]['knn/top1'] <= 100
    assert runner.model.backbone.training


def test_hook_in_benchmark_simclr_config_on_medmnist(tmp_path, one_thread):
    # the benchmark's SimCLR config; bank and queries from a MedMNIST file
    # (decoded BGR arrays: no LoadImageFromFile, with_label=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (('train', 8), ('test', 6)):
        arrays[f'{split}_images'] = rng.integers(
            0, 256, (n, 28, 28, 3), dtype=np.uint8)
        arrays[f'{split}_labels'] = (np.arange(n) % 2).reshape(n, 1)
    np.savez(tmp_path / 'tiny.npz', **arrays)
    medmnist = dict(
        type='MedMNIST',
        data_root=str(tmp_path),
        ann_file='tiny.npz',
        with_label=True,
        pipeline=[
            dict(type='Resize', scale=(SIZE, SIZE)),
            dict(type='PackInputs')
        ])

    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'simclr',
                 'simclr_resnet50_1xb64-20e_bloodmnist.py'))
    cfg.train_dataloader.update(
        batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        data_root=str(tmp_path),
        ann_file='tiny.npz',
        pipeline=[
            dict(
                type='MultiView',
                num_views=2,
                transforms=[[dict(type='RandomResizedCrop', scale=SIZE)]]),
            dict(type='PackInputs')
        ])
    cfg.custom_hooks = [
        dict(
            type='KNNEvalHook',
            bank_dataset=dict(medmnist, split='train'),
            query_dataset=dict(medmnist, split='test'),
            k=3,
            batch_size=4,
            num_workers=0)
    ]
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'test_knn_medmnist_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    (logged, ) = logged_knn(tmp_path / 'work')
    assert logged['step'] == 1
    hook = next(h for h in runner.hooks if isinstance(h, KNNEvalHook))
    assert hook.results[0]['top1'] == logged['knn/top1']
    assert (hook.results[0]['bank_size'],
            hook.results[0]['num_queries']) == (8, 6)


# trains, then (all ranks) embeds once more and saves rank 0's gathered
# features: the hook's own numbers, to compare with the checkpoint's
DIST_SCRIPT = """
import sys
import torch
from mixssl_mm.compat import apply_compat_fixes
apply_compat_fixes()  # gloo and DDP without device_ids on this CPU machine
from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.runner import Runner
from mixssl_mm.engine.hooks.knn_eval_hook import KNNEvalHook
cfg = Config.fromfile(sys.argv[1])
cfg.launcher = 'pytorch'
runner = Runner.from_cfg(cfg)
runner.train()
hook = next(h for h in runner.hooks if isinstance(h, KNNEvalHook))
feats = hook.extract_features(runner)
if get_rank() == 0:
    torch.save(feats, sys.argv[2])
"""


def test_two_ranks_gather_and_match_the_checkpoint(tmp_path, folders):
    # 2 CPU processes (gloo). The bank (9 images, odd: the sampler pads one
    # rank) and queries (5) are split over the ranks; BatchNorm statistics
    # differ per rank after training, and the k-NN must still be that of
    # rank 0's checkpointed model, over every image exactly once.
    knn = dict(
        bank=write_image_folder(tmp_path / 'bank9', 9, SIZE, seed=4),
        query=write_image_folder(tmp_path / 'query5', 5, SIZE, seed=5))
    work_dir = tmp_path / 'work'
    cfg = mixssl_cfg(work_dir, folders, [knn_hook(knn)], max_epochs=1)
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks = dict(
        checkpoint=dict(type='CheckpointHook', interval=1))
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    cfg.custom_imports = dict(
        imports=['mixssl_mm'], allow_failed_imports=False)
    cfg.dump(str(tmp_path / 'cfg.py'))
    (tmp_path / 'run.py').write_text(DIST_SCRIPT)
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([REPO,
                                    os.environ.get('PYTHONPATH', '')]))
    out = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={free_port()}',
        str(tmp_path / 'run.py'),
        str(tmp_path / 'cfg.py'),
        str(tmp_path / 'feats.pth')
    ],
                         env=env,
                         cwd=str(tmp_path),
                         capture_output=True,
                         text=True,
                         timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (logged, ) = logged_knn(work_dir)

    # the same number from rank 0's checkpoint, by hand
    model = Runner.from_cfg(mixssl_cfg(tmp_path / 'check', folders, [])).model
    state = torch.load(work_dir / 'epoch_1.pth', map_location='cpu')
    model.load_state_dict(state['state_dict'])
    expect = check_features_by_hand(model.backbone, knn,
                                    torch.load(tmp_path / 'feats.pth'))
    assert logged['knn/top1'] == pytest.approx(expect)


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize('change,message', [
    (dict(k=20), 'k=20 but the memory bank holds only 8'),
    (dict(bank_size=5, k=6), 'k=6 but the memory bank holds only 5'),
    (dict(query_size=7), 'query_size=7 but the query dataset has only 6'),
    ('unlabelled', 'bank dataset gives no labels'),
])
def test_bad_config_refused_before_training(tmp_path, folders, change,
                                            message):
    hook = knn_hook(folders)
    if change == 'unlabelled':
        hook['bank_dataset']['with_label'] = False
    else:
        hook.update(change)
    runner = Runner.from_cfg(mixssl_cfg(tmp_path / 'work', folders, [hook]))
    with pytest.raises(ValueError, match=message):
        runner.train()
    assert runner.iter == 0


@pytest.mark.parametrize('kwargs,message', [
    (dict(k=0), 'k must be >= 1'),
    (dict(temperature=0.0), 'temperature must be > 0'),
    (dict(interval=0, at_end=False), 'never evaluate'),
    (dict(bank_size=0), 'bank_size must be None or >= 1'),
    (dict(collect_device='tpu'), 'collect_device'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KNNEvalHook(bank_dataset={}, query_dataset={}, **kwargs)
