"""mixssl_mm.benchmark.presets: every preset runs with the methods table."""
from mixssl_mm.benchmark.methods import METHODS
from mixssl_mm.benchmark.presets import PRESETS, preset_key, preset_names


def test_presets_are_consistent():
    assert preset_names() == [
        'tiny', 'cpu-small', 'cpu-medium', 'gpu-quick', 'gpu-paper'
    ]
    assert [preset_key(n) for n in preset_names()] == list(PRESETS)
    for name, p in PRESETS.items():
        assert set(p['methods']) <= set(METHODS), name
        assert set(p['method_options']) <= set(METHODS), name
        if p['img_size']:
            assert p['img_size'] % 32 == 0, name  # MixSSL needs it
        q = p.get('queue_len')  # every method's queue (MoCo, DenseCL)
        if q:
            assert q % p['batch_size'] == 0, name
    gpu = PRESETS['gpu_paper']
    assert (gpu['depth'], gpu['pretrain_epochs'], gpu['finetune_epochs'],
            gpu['batch_size']) == (50, 20, 20, 64)
    # issue 11: the acceptance run's short GPU preset
    quick = PRESETS['gpu_quick']
    assert (quick['depth'], quick['img_size'], quick['batch_size'],
            quick['train_subset'], quick['pretrain_epochs'],
            quick['finetune_epochs'], quick['seeds']) == (18, 64, 256, None,
                                                          20, 10, [0, 1, 2])
    # issue 20: the GPU presets carry the CPU presets' seeds and crops
    for name in ('gpu_quick', 'gpu_paper'):
        assert PRESETS[name]['seeds'] == PRESETS['cpu_medium']['seeds']
        assert PRESETS[name]['crop_scale_min'] == \
            PRESETS['cpu_medium']['crop_scale_min']
    assert 4096 % quick['batch_size'] == 0  # MoCo's queue, as configured
    assert {'mixssl', 'rand'} <= set(PRESETS['tiny']['methods'])
    assert len(PRESETS['cpu_small']['seeds']) >= 3
    # issue 14: >= 5x cpu-small's pretraining samples (6,353 images of the
    # 4-class task x 6 epochs against 192 x 32), the label fractions
    small, medium = PRESETS['cpu_small'], PRESETS['cpu_medium']
    small_samples = 192 * small['batch_size']
    assert medium['train_subset'] is None
    assert 6353 * medium['pretrain_epochs'] >= 5 * small_samples
    for name in ('cpu_medium', 'gpu_quick', 'gpu_paper'):
        assert PRESETS[name]['label_fractions'] == [0.01, 0.1, 1.0], name
    assert PRESETS['tiny'].get('label_fractions') is None  # full only
