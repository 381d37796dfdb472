"""mixssl_mm.benchmark.methods: the one methods table (groups, configs,
channel overrides) and the resolution helpers."""
from pathlib import Path

import pytest

from mixssl_mm.benchmark.methods import (DOWNSTREAM, METHOD_GROUPS, METHODS,
                                         expand_methods, feature_channels,
                                         largest_size, mixes_images,
                                         resolution_options, scaled_size)

REPO = Path(__file__).resolve().parents[2]


def test_method_groups_expand_in_order():
    assert expand_methods(['mixssl', 'rand']) == ['mixssl', 'rand']
    assert expand_methods(['ablations']) == [
        'mixssl_t', 'mixssl_r', 'mixssl', 'mixssl_rc', 'mixssl_ra'
    ]
    # CLI spelling with dashes; duplicates once
    assert expand_methods(['mixup-simclr', 'builtin', 'mixssl']) == [
        'mixup_simclr', 'mixssl', 'simclr', 'mocov2', 'byol', 'rand'
    ]
    table1 = expand_methods(['table1'])
    assert len(table1) == 9 and table1[-1] == 'mixssl'
    assert 'imagenet_self' not in METHOD_GROUPS['all']
    with pytest.raises(SystemExit, match='unknown method .simclr2.'):
        expand_methods(['simclr2'])


def test_every_config_is_in_the_checkout():
    mm = set(METHOD_GROUPS['mmpretrain'])  # mmpretrain's installed files
    configs = [
        m['config'] for k, m in METHODS.items() if m['config'] and k not in mm
    ]
    configs += [c for task in DOWNSTREAM.values() for c in task.values()]
    assert len(configs) == 17 + 4
    for config in configs + [METHODS[k]['config'] for k in mm]:
        assert (REPO / config).is_file(), config


def test_channel_overrides_fit_each_neck_and_head():
    """The keys each method's neck/head needs, in command order."""
    c = feature_channels(18)
    assert c == 512 and feature_channels(34) == 512
    assert feature_channels(50) == 2048
    mixssl = ['model.neck.in_channels', 'model.head.in_channels']
    projector = ['model.neck.in_channels', 'model.neck.hid_channels']
    expected = dict(
        mixssl=mixssl,
        simclr=projector,
        mocov2=projector,
        byol=['model.neck.in_channels'],
        rand=[],
        rotation=['model.head.in_channels'],
        mixup_simclr=projector,
        mixco=projector,
        dino=['model.neck.in_channels'],
        imagenet_self=[],
        mixssl_r=mixssl,
        mixssl_t=mixssl,
        mixssl_rc=mixssl + [
            'model.contrast_neck.in_channels',
            'model.contrast_neck.hid_channels'
        ],
        mixssl_ra=mixssl + ['model.aux_head.in_channels'],
        mixssl_pix01=mixssl,
        mixssl_cycleganinit=mixssl,
        mixssl_lambatch=mixssl,
        mixssl_auxzoom=mixssl,
        mixssl_coslr=mixssl)
    # mmpretrain's own: the settings that read the encoder, found in each
    expected.update({
        f'mm_{k}': ['model.neck.in_channels']
        for k in ('simclr', 'mocov2', 'mocov3', 'byol', 'simsiam',
                  'barlowtwins', 'swav', 'densecl')
    })
    expected['mm_spark'] = ['model.enc_dec_norm_dim']
    assert list(METHODS) == list(expected)
    for key, keys in expected.items():
        assert list(METHODS[key]['channels'](c).items()) == [
            (k, c) for k in keys
        ], key
    objectives = {
        k: m['objective']
        for k, m in METHODS.items() if m.get('objective')
    }
    assert objectives == dict(
        mixssl='R+T',
        mixssl_r='R',
        mixssl_t='T',
        mixssl_rc='R+C',
        mixssl_ra='R+A')
    assert [k for k, m in METHODS.items()
            if m.get('external')] == ['imagenet_self']


def test_design_group_is_the_paper_reading_and_one_variant_per_choice():
    """`--methods design`: MixSSL first (the reference of the paired
    differences), then each configs/mixssl/design_choices/ config once;
    `all` stays Tables 1 and 3."""
    design = expand_methods(['design'])
    assert design[0] == 'mixssl'
    configs = sorted(METHODS[m]['config'] for m in design[1:])
    on_disk = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / 'configs/mixssl/design_choices').glob('*.py'))
    assert configs == on_disk and len(on_disk) == 5
    assert {METHODS[m]['design']
            for m in design[1:]} == {
                'pixel space of reconstruction', 'decoder initialisation',
                'λ per batch or per sample', 'auxiliary crops',
                'learning-rate schedule'
            }
    assert all(mixes_images(m) for m in design)
    assert not mixes_images('simclr') and not mixes_images('rand')
    assert not set(design[1:]) & set(METHOD_GROUPS['all'])


def _pipelines(rrc):
    return dict(
        train_dataloader=dict(
            dataset=dict(pipeline=[
                dict(type='RandomResizedCrop', scale=rrc),
                dict(
                    type='MultiView',
                    transforms=[[dict(type='RandomResizedCrop', scale=rrc)]]),
                dict(
                    type='CrossDomainMixup',
                    aux_dataset=dict(
                        pipeline=[dict(type='RandomResizedCrop', scale=rrc)])),
                # DINO's local views keep their ratio to the full size
                dict(
                    type='MultiView',
                    transforms=[[dict(type='RandomResizedCrop', scale=96)]]),
            ])),
        test_dataloader=dict(
            dataset=dict(pipeline=[dict(type='Resize', scale=(rrc, rrc))])))


def test_resolution_options_reach_nested_pipelines():
    opts = resolution_options(_pipelines(224), 32)
    assert opts == {
        'train_dataloader.dataset.pipeline.0.scale': 32,
        'train_dataloader.dataset.pipeline.1.transforms.0.0.scale': 32,
        'train_dataloader.dataset.pipeline.2.aux_dataset.pipeline.0.scale': 32,
        'train_dataloader.dataset.pipeline.3.transforms.0.0.scale': 14,
        'test_dataloader.dataset.pipeline.0.scale': (32, 32),
    }
    assert scaled_size(96, 64) == 27
    assert scaled_size(256, 64) == 64
    only_test = resolution_options(_pipelines(224), 32, ['test_dataloader'])
    assert list(only_test) == ['test_dataloader.dataset.pipeline.0.scale']


def test_a_smaller_config_scales_from_its_own_full_size():
    cfg = _pipelines(128)
    assert largest_size(cfg) == 128
    assert largest_size(cfg, ['val_dataloader']) == 0
    opts = resolution_options(cfg, 64, full=largest_size(cfg))
    assert opts['train_dataloader.dataset.pipeline.0.scale'] == 64
    assert opts['train_dataloader.dataset.pipeline.3.transforms.0.0.scale'] \
        == 48  # 96 of 128
