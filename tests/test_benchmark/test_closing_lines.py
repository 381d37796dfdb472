"""mixssl_mm.benchmark.orchestration.closing_lines: the benchmark's console
ends with a short top-1 table and the name of every file it wrote, not with
the whole of results.md."""
from mixssl_mm.benchmark.orchestration import RESULT_FILES, closing_lines


def _records():
    return [
        dict(
            method=m,
            protocol=p,
            seed=s,
            metrics={'accuracy/top1': 80.0 + s - (m == 'rand') * 9})
        for m in ('mixssl', 'rand') for s in (0, 1)
        for p in ('finetune', 'linear')
    ]


def test_closing_lines_summarise_top1_and_name_every_file(tmp_path):
    for name, _ in RESULT_FILES:
        (tmp_path / name).write_text('x')
    lines = closing_lines(
        str(tmp_path), _records(), ['mixssl', 'rand'], inputs=['a.py', 'b.py'])
    text = '\n'.join(lines)
    for name in ('results.md', 'results.csv', 'deltas.csv', 'results.png'):
        assert str(tmp_path / name) in text, name
    assert '2 generated stage inputs' in text
    # a row per method, a column per protocol: mean ± std over 2 seeds
    rows = [line for line in lines if line.startswith('| ')]
    assert len(rows) == 3  # header + MixSSL + Rand
    assert rows[1].startswith('| MixSSL | 80.50 ± 0.71 (n=2) |')
    assert rows[2].startswith('| Rand | 71.50 ± 0.71 (n=2) |')
    assert len(lines) < 20  # a summary, not results.md


def test_closing_lines_name_only_files_that_exist(tmp_path):
    (tmp_path / 'results.md').write_text('x')
    text = '\n'.join(closing_lines(str(tmp_path), [], ['mixssl']))
    assert '(no finished test stage)' in text
    assert str(tmp_path / 'results.md') in text
    assert 'results.png' not in text and 'generated' not in text
