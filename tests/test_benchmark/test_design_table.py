"""mixssl_mm.benchmark.report: results.md's design-choices table,
one row per measured open choice with its paired difference to MixSSL."""
from scipy import stats

from mixssl_mm.benchmark.comparison import compare
from mixssl_mm.benchmark.methods import METHODS
from mixssl_mm.benchmark.report import design_section


def _records(values):
    """``{(method, protocol): [top-1 of seed 0, seed 1]}`` -> records."""
    recs = []
    for (m, proto), vals in values.items():
        key = 'knn/top1' if proto == 'knn' else 'accuracy/top1'
        recs += [
            dict(method=m, protocol=proto, seed=s, metrics={key: v})
            for s, v in enumerate(vals)
        ]
    return recs


def test_each_variant_row_has_its_top1_and_paired_interval():
    recs = _records({
        ('mixssl', 'finetune'): [80.0, 82.0],
        ('mixssl', 'knn'): [60.0, 61.0],
        ('mixssl_pix01', 'finetune'): [83.0, 84.0],
        ('mixssl_pix01', 'knn'): [70.0, 71.5],
        ('mixssl_coslr', 'finetune'): [70.0, 72.0],
        ('mixssl_coslr', 'knn'): [60.0, 61.0],
        ('rand', 'finetune'): [90.0, 90.0],  # not a design row
    })
    methods = [
        'mixssl', 'mixssl_pix01', 'mixssl_lambatch', 'mixssl_coslr', 'rand'
    ]
    lines = design_section(recs, methods, compare(recs, methods))
    text = '\n'.join(lines)
    assert lines[0].startswith('## Design choices')
    rows = [line for line in lines if line.startswith('| ')]
    header = rows[0].split(' | ')
    assert 'Fine-tune' in header[2] and 'k-NN' in header[-1]
    # the paper's reading, then the variants with results, in run order
    # (λ per sample has none: no row)
    assert [r.split(' | ')[1] for r in rows[1:]] == [
        METHODS['mixssl']['name'], METHODS['mixssl_pix01']['name'],
        METHODS['mixssl_coslr']['name']
    ]
    assert 'λ per sample' not in text and 'Rand' not in text
    ref, pix, cos = rows[1:]
    assert '81.00 ± 1.41' in ref and '[' not in ref
    # pix01: differences 3 and 2 -> +2.50 ± t(0.975, 1) * 0.5
    half = stats.t.ppf(0.975, 1) * 0.5
    assert '83.50 ± 0.71' in pix
    assert f'(+2.50 [{2.5 - half:+.2f}, {2.5 + half:+.2f}] ≈)' in pix
    # k-NN: differences 10 and 10.5, an interval that excludes 0
    half = stats.t.ppf(0.975, 1) * 0.25
    assert f'(+10.25 [{10.25 - half:+.2f}, {10.25 + half:+.2f}])' in pix
    # coslr: -10 on both seeds -> a zero-width interval below 0
    assert '(-10.00 [-10.00, -10.00])' in cos
    assert pix.split(' | ')[0] == '| pixel space of reconstruction'
    assert cos.split(' | ')[0] == '| learning-rate schedule'


def test_no_design_variant_no_section():
    recs = _records({
        ('mixssl', 'finetune'): [80.0, 82.0],
        ('rand', 'finetune'): [85.0, 86.0]
    })
    assert design_section(recs, ['mixssl', 'rand'],
                          compare(recs, ['mixssl', 'rand'])) == []
    # a variant that is planned but has no result yet: no section either
    assert design_section(recs, ['mixssl', 'mixssl_auxzoom'],
                          compare(recs, ['mixssl'])) == []


def test_one_seed_without_predictions_shows_no_interval():
    recs = _records({
        ('mixssl', 'finetune'): [80.0],
        ('mixssl_auxzoom', 'finetune'): [81.0]
    })
    methods = ['mixssl', 'mixssl_auxzoom']
    lines = design_section(recs, methods, compare(recs, methods))
    row = [line for line in lines if 'zoomed' in line][0]
    assert '81.00' in row and '(–)' in row
