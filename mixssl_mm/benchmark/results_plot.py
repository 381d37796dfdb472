# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark's plot, ``results.png``: top-1 per method and protocol
and, when MixSSL ran, every method's top-1 difference to it with its paired
95 % interval (:mod:`.comparison`)."""
import textwrap
from typing import List, Optional, Sequence

import numpy as np

from .intervals import within_noise
from .protocols import base_protocol, has_fractions, protocol_title
from .report import TOP1, method_name, present_protocols, top1
from .stats import mean_std


def plot_bars(path: str,
              records: List[dict],
              methods: Sequence[str],
              title: str = '',
              deltas: Optional[dict] = None) -> None:
    """Top-1 per method, the protocols run (fine-tune per label fraction,
    linear probe, k-NN) side by side, error bars = sample std over seeds;
    with ``deltas`` (:func:`~.comparison.compare`) a second panel of each
    method's top-1 difference to MixSSL with its 95 % interval. A PNG at
    ``path``."""
    import matplotlib
    matplotlib.use('Agg')  # no display: only files are written
    import matplotlib.pyplot as plt

    present = [m for m in methods if any(r['method'] == m for r in records)]
    protos = present_protocols(records)
    shown = has_fractions(protos)
    # room for every protocol's bar and a wrapped method name per method
    width_in = max(6.0, (0.3 * len(protos) + 0.5) * len(present) + 1.5)
    if deltas:
        fig, (ax, ax_delta) = plt.subplots(
            2, 1, figsize=(width_in, 7.5), height_ratios=[4, 3])
    else:
        fig, ax = plt.subplots(figsize=(width_in, 4))
    width = 0.76 / len(protos)
    for i, proto in enumerate(protos):
        label = protocol_title(proto, shown)
        means, stds = [], []
        for m in present:
            mean, std = mean_std([
                top1(r) for r in records
                if r['method'] == m and r['protocol'] == proto
            ])
            means.append(mean if mean is not None else 0.0)
            stds.append(std or 0.0)
        xs = [
            j + (i - (len(protos) - 1) / 2) * width
            for j in range(len(present))
        ]
        bars = ax.bar(xs, means, width, yerr=stds, capsize=3, label=label)
        for b, v, s in zip(bars, means, stds):
            if v:
                ax.annotate(
                    f'{v:.1f}', (b.get_x() + b.get_width() / 2, v + s),
                    ha='center',
                    va='bottom',
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords='offset points')
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([_wrap(method_name(m)) for m in present], fontsize=8)
    ax.set_ylabel('test top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    if title:
        ax.set_title(title, fontsize=9)
    if deltas:
        draw_deltas(
            ax_delta,
            deltas,
            lambda m: _wrap(method_name(m)),
            colors={
                p: f'C{i}'
                for i, p in enumerate(protos)
            })
    # one legend for both panels (same colour per protocol), below them;
    # the tight bounding box keeps it and long labels inside the image
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(
        handles,
        labels,
        loc='upper center',
        frameon=False,
        ncol=min(len(protos), max(1, int(width_in // 3.2))),
        bbox_to_anchor=(0.5, 0.0),
        fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)


def _wrap(name: str) -> str:
    """A method name in lines of at most 14 characters (tick labels)."""
    return textwrap.fill(name, 14)


def draw_deltas(ax,
                comparison: dict,
                name_fn,
                reference_name: str = 'MixSSL',
                colors: Optional[dict] = None) -> None:
    """The plot's second panel: each method's top-1 difference (k-NN's
    own top-1 for k-NN) to the reference per protocol, with its interval as
    an error bar and its value written beside it; a hollow marker when the
    interval contains 0 (within noise). ``colors``: protocol ->
    matplotlib colour (default: ``C0``, ``C1``, ... in ``comparison``'s
    order), so that both panels colour a protocol alike."""
    protos = list(comparison)
    methods = []
    for rows in comparison.values():
        methods += [m for m in rows if m not in methods]
    width = 0.8 / max(len(protos), 1)
    for i, proto in enumerate(protos):
        color = (colors or {}).get(proto, f'C{i}')
        for j, m in enumerate(methods):
            iv = comparison[proto].get(m, {}).get(TOP1[base_protocol(proto)])
            if iv is None or np.isnan(iv.low):
                continue
            x = j + (i - (len(protos) - 1) / 2) * width
            ax.errorbar([x], [iv.delta],
                        yerr=[[iv.delta - iv.low], [iv.high - iv.delta]],
                        fmt='o',
                        color=color,
                        capsize=3,
                        mfc='white' if within_noise(iv) else color)
            ax.annotate(
                f'{iv.delta:+.1f}', (x, iv.delta),
                ha='left',
                va='center',
                fontsize=7,
                color=color,
                xytext=(4, 0),
                textcoords='offset points')
    ax.axhline(0.0, color='0.4', lw=0.8)
    # a slot of width 1 per method, as in the bar panel: without it the
    # axis shrinks to the points, which then sit at the panel's edges, away
    # from their method's label
    ax.set_xlim(-0.5, max(len(methods), 1) - 0.5)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels([name_fn(m) for m in methods], fontsize=8)
    ax.set_ylabel(f'Δ top-1 vs {reference_name} (points)')
    ax.set_title(
        f'difference to {reference_name}, 95 % CI; hollow: '
        'within noise',
        fontsize=8)
