# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Names of the benchmark's evaluation protocols.

The base protocols are :data:`~mixssl_mm.benchmark.methods.PROTOCOLS`
(``finetune``, ``linear``, ...). The label-fraction protocol fine-tunes on a
fraction of the training labels; its key is ``finetune_<percent>pct``
(``finetune_1pct``, ``finetune_10pct``, ``finetune_0.5pct``), and 100 % is
the plain ``finetune``. These keys name the stage folders
(``<method>/seed<S>/finetune_10pct``), the ``protocol`` column of
results.csv and the sections of results.md.
"""
from typing import Iterable, List, Optional, Tuple

from .methods import PROTOCOLS

FRACTION_BASE = 'finetune'


def percent(fraction: float) -> str:
    """``0.01`` -> ``'1'``, ``0.005`` -> ``'0.5'`` (no float noise)."""
    return format(round(fraction * 100, 6), 'g')


def fraction_protocol(fraction: float) -> str:
    """The protocol key of fine-tuning on ``fraction`` of the labels."""
    if fraction >= 1.0:
        return FRACTION_BASE
    return f'{FRACTION_BASE}_{percent(fraction)}pct'


def split_protocol(key: str) -> Tuple[str, Optional[float]]:
    """``'finetune_10pct'`` -> ``('finetune', 0.1)``; a base protocol ->
    ``(key, None)``."""
    base, _, rest = key.partition('_')
    if rest.endswith('pct') and base in PROTOCOLS:
        try:
            return base, float(rest[:-3]) / 100
        except ValueError:
            pass
    return key, None


def base_protocol(key: str) -> str:
    """The protocol whose configs and settings a key uses."""
    return split_protocol(key)[0]


def protocol_title(key: str, fractions_shown: bool = False) -> str:
    """``'Fine-tune'``, ``'Fine-tune, 10 % of the labels'``; with
    ``fractions_shown`` the full fine-tune reads ``'Fine-tune, 100 % of the
    labels'``."""
    base, fraction = split_protocol(key)
    title = PROTOCOLS.get(base, base)
    if fraction is not None:
        return f'{title}, {percent(fraction)} % of the labels'
    if fractions_shown and base == FRACTION_BASE:
        return f'{title}, 100 % of the labels'
    return title


def has_fractions(keys: Iterable[str]) -> bool:
    """Whether any key is a label-fraction protocol."""
    return any(split_protocol(k)[1] is not None for k in keys)


def ordered_protocols(keys: Iterable[str]) -> List[str]:
    """The distinct ``keys`` in report order: base protocols in
    :data:`PROTOCOLS` order (unknown ones last), each fine-tune fraction
    before the full fine-tune, smallest first."""
    base_order = list(PROTOCOLS)

    def rank(key):
        base, fraction = split_protocol(key)
        pos = base_order.index(base) if base in base_order else len(base_order)
        return pos, 2.0 if fraction is None else fraction, key

    return sorted(set(keys), key=rank)
