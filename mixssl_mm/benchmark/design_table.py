# Copyright (c) mixssl_mm contributors. All rights reserved.
"""results.md's "Design choices" table: one row per open choice of the
paper that the run measured (a METHODS entry with ``design``), its top-1
per protocol and the paired difference to MixSSL (the paper's reading of
every choice) with its 95 % interval, from :func:`.comparison.compare`.

The choices and their configs: configs/mixssl/design_choices/README.md.
"""
from collections import OrderedDict
from typing import List, Sequence

from .comparison import REFERENCE, fmt_interval
from .methods import METHODS
from .protocols import (base_protocol, has_fractions, ordered_protocols,
                        protocol_title)
from .report import TOP1, md_table, top1
from .stats import fmt_mean_std


def design_section(records: List[dict],
                   methods: Sequence[str],
                   comparison: 'OrderedDict',
                   digits: int = 2) -> List[str]:
    """The section's markdown lines; ``[]`` when no design variant has a
    result.

    Args:
        records: the benchmark's records (method, protocol, seed, metrics).
        methods: the run's METHODS keys, in order.
        comparison: ``compare(records, methods)`` (differences to MixSSL).
        digits: decimals of the percentages.

    Returns:
        A heading, a sentence on how to read it and a table whose rows are
        MixSSL (the paper's reading) and each design variant with results;
        a variant's cell is ``top-1 (Δ [low, high])``, ``≈`` marking an
        interval that contains 0 (within noise).
    """
    variants = [
        m for m in methods
        if METHODS[m].get('design') and any(r['method'] == m for r in records)
    ]
    if not variants:
        return []
    protos = ordered_protocols(r['protocol'] for r in records)
    shown = has_fractions(protos)
    seeds = sorted({r['seed'] for r in records})

    def cell(m, proto):
        vals = [
            top1(r) for r in records
            if r['method'] == m and r['protocol'] == proto
        ]
        if not vals:
            return '–'
        text = fmt_mean_std(vals, digits)
        iv = comparison.get(proto, {}).get(m,
                                           {}).get(TOP1[base_protocol(proto)])
        return text + (f' ({fmt_interval(iv, digits)})'
                       if m != REFERENCE else '')

    rows = [['paper\'s reading of each', METHODS[REFERENCE]['name']] +
            [cell(REFERENCE, p) for p in protos]]
    rows += [[METHODS[m]['design'], METHODS[m]['name']] +
             [cell(m, p) for p in protos] for m in variants]
    return [
        '## Design choices — MixSSL with one open choice changed', '',
        'Top-1 accuracy (%), mean ± std over seeds '
        f'{" ".join(map(str, seeds))}; in brackets the paired difference '
        'to MixSSL (the paper\'s reading of every choice) and its 95 % '
        'interval, as in "Δ vs MixSSL" (≈: the interval contains 0, within '
        'noise). The choices: configs/mixssl/design_choices/README.md.', '',
        *md_table(
            ['Choice', 'Config'] + [protocol_title(p, shown)
                                    for p in protos], rows), ''
    ]
