"""mixssl_mm.benchmark.report: results.png with and without the
panel of differences to MixSSL."""
from mixssl_mm.benchmark.comparison import Interval
from mixssl_mm.benchmark.report import plot_bars

PNG = b'\x89PNG\r\n\x1a\n'


def _records():
    return [
        dict(
            method=m,
            protocol=p,
            seed=s,
            metrics={'accuracy/top1': 80.0 + s - (m == 'rand') * 9})
        for m in ('mixssl', 'rand') for s in (0, 1)
        for p in ('finetune_10pct', 'finetune', 'linear')
    ]


def test_plot_writes_png(tmp_path):
    path = tmp_path / 'r.png'
    plot_bars(str(path), _records(), ['mixssl', 'rand'], title='t')
    assert path.read_bytes()[:8] == PNG


def test_plot_with_the_differences_to_mixssl(tmp_path):
    deltas = {
        'finetune_10pct': {
            'rand': {
                'accuracy/top1': Interval(-9.0, -12.0, -6.0, 2, 't')
            }
        },
        'linear': {
            'rand': {
                'accuracy/top1': Interval(-1.0, -3.0, 1.0, 400, 'bootstrap', 0)
            }
        },
    }
    path, plain = tmp_path / 'd.png', tmp_path / 'p.png'
    plot_bars(str(path), _records(), ['mixssl', 'rand'], deltas=deltas)
    plot_bars(str(plain), _records(), ['mixssl', 'rand'])
    assert path.read_bytes()[:8] == PNG
    assert path.stat().st_size > plain.stat().st_size  # the second panel


def test_delta_panel_colours_a_protocol_as_the_bar_panel_does():
    """The Δ panel has no legend of its own: a protocol's markers must take
    the bar panel's colour even when the comparison lacks a protocol."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from mixssl_mm.benchmark.report import draw_deltas
    deltas = {
        'linear': {
            'rand': {
                'accuracy/top1': Interval(-1.0, -3.0, 1.0, 400, 'bootstrap')
            }
        }
    }
    fig, ax = plt.subplots()
    draw_deltas(ax, deltas, str, colors={'finetune': 'C0', 'linear': 'C1'})
    # the marker and its two caps; the last line is the zero line
    marker, *caps, zero = ax.lines
    assert zero.get_color() == '0.4' and len(caps) == 2
    assert to_rgba(marker.get_color()) == to_rgba('C1')
    assert marker.get_markerfacecolor() == 'white'  # within noise
    plt.close(fig)


def test_delta_panel_plots_the_knn_difference():
    """k-NN reports its top-1 as knn/top1; its difference is plotted too."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from mixssl_mm.benchmark.report import draw_deltas
    deltas = {'knn': {'rand': {'knn/top1': Interval(4.8, 3.1, 6.6, 3, 't')}}}
    fig, ax = plt.subplots()
    draw_deltas(ax, deltas, str)
    marker = ax.lines[0]
    assert list(marker.get_ydata()) == [4.8]
    assert marker.get_markerfacecolor() != 'white'  # excludes 0
    plt.close(fig)


def test_delta_panel_labels_every_point_with_a_single_method():
    """One compared method: its points sit in the middle of the panel, under
    its name (not squeezed to the axis edges), each with its Δ written."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from mixssl_mm.benchmark.report import draw_deltas
    deltas = {
        'finetune': {
            'rand': {
                'accuracy/top1': Interval(-9.0, -12.0, -6.0, 2, 't')
            }
        },
        'linear': {
            'rand': {
                'accuracy/top1': Interval(-1.0, -3.0, 1.0, 400, 'bootstrap')
            }
        },
    }
    fig, ax = plt.subplots()
    draw_deltas(ax, deltas, str)
    assert ax.get_xlim() == (-0.5, 0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ['rand']
    assert sorted(t.get_text() for t in ax.texts) == ['-1.0', '-9.0']
    xs = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == 'o']
    assert len(xs) == 2 and all(-0.5 < x < 0.5 for x in xs)
    plt.close(fig)
