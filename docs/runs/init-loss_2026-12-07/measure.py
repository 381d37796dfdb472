"""Loss magnitudes of MixSSL at initialisation (configs/mixssl/README.md,
"Design choices", pixel space): one training batch of the config's own
pipeline, training-mode BN, no gradient step; both reconstruction spaces
from the same forward pass (the decoder output does not depend on them).

Run from the repository root: ``python docs/runs/init-loss_2026-12-07/
measure.py``; prints one table row per model (seed 0 / seed 1): loss_rec
normalised, loss_rec [0, 1], loss_trans, target variance normalised and
[0, 1], decoder output std. ``python ... smoke`` runs a 2-image check."""
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner, set_random_seed

from mixssl_mm.compat import apply_compat_fixes

apply_compat_fixes()
from mmengine.registry import init_default_scope  # noqa: E402

init_default_scope('mmpretrain')
from mmpretrain.registry import MODELS  # noqa: E402

import mixssl_mm  # noqa: E402,F401
from mixssl_mm.utils import runner_model_cfg  # noqa: E402

R = 'configs/mixssl/'
R18 = {
    'model.backbone.depth': 18,
    'model.neck.in_channels': 512,
    'model.head.in_channels': 512,
    'train_dataloader.dataset.pipeline.0.scale': 64,
    'train_dataloader.dataset.pipeline.5.aux_dataset.pipeline.0.scale': 64
}
CASES = [
    ('ResNet-50, 224 px (16)', 'PyTorch',
     R + 'mixssl_resnet50_1xb64-20e_bloodmnist.py', {}, 16),
    ('ResNet-50, 224 px (16)', 'CycleGAN',
     R + 'design_choices/mixssl-cycleganinit_resnet50_1xb64-20e_bloodmnist.py',
     {}, 16),
    ('ResNet-18, 64 px (32)', 'PyTorch',
     R + 'mixssl_resnet50_1xb64-20e_bloodmnist.py', R18, 32),
]
if len(sys.argv) > 1:  # smoke: ResNet-18 at 32 px, batch 2
    CASES = [
        ('smoke', 'PyTorch', CASES[2][2],
         dict(
             R18, **{
                 'train_dataloader.dataset.pipeline.0.scale':
                 32,
                 'train_dataloader.dataset.pipeline.5.aux_dataset.pipeline.0.'
                 'scale':
                 32
             }), 2)
    ]
for name, init, path, opts, bs in CASES:
    cells = {
        k: []
        for k in ('rec_n', 'rec_u', 'trans', 'var_n', 'var_u', 'rec_std')
    }
    for seed in (0, 1):
        cfg = Config.fromfile(path)
        cfg.merge_from_dict(opts)
        cfg.train_dataloader.update(
            batch_size=bs, num_workers=0, persistent_workers=False)
        set_random_seed(seed)
        model = MODELS.build(runner_model_cfg(cfg))
        model.init_weights()
        model.train()
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
        batch = next(iter(loader))
        with torch.no_grad():
            data = model.data_preprocessor(batch, True)
            out = model.forward_mix(data['inputs'])
            mean, std = model.pixel_stats(out['target'])
            unit = (out['target'] * std + mean) / 255.
            rec = out['rec']
            cells['rec_n'].append(((rec - out['target'])**2).mean())
            cells['rec_u'].append(((rec - unit)**2).mean())
            cells['trans'].append(
                model.head.loss(out['feats'], out['lam'])['loss_trans'])
            cells['var_n'].append(out['target'].var())
            cells['var_u'].append(unit.var())
            cells['rec_std'].append(rec.std())
    fmt = {'var_u': '{:.3f}'}
    print(
        f'| {name} | {init} | ' + ' | '.join(' / '.join(
            fmt.get(k, '{:.2f}').format(float(v))
            for v in vals) for k, vals in cells.items()) + ' |',
        flush=True)
