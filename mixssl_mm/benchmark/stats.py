# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Statistics of the benchmark's results (mean ± sample std over seeds) and
of the throughput tool's step times (median / min / max)."""
from typing import Optional, Sequence, Tuple

import numpy as np


def finite(values: Sequence) -> np.ndarray:
    """The values as float64, with ``None`` and NaN (e.g. the accuracy of a
    class absent from the test set) left out."""
    vals = np.asarray([float(v) for v in values if v is not None],
                      dtype=np.float64)
    return vals[~np.isnan(vals)]


def mean_std(values: Sequence) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation (ddof=1) of the finite values;
    std is None for fewer than 2 values, both are None for none."""
    vals = finite(values)
    if not vals.size:
        return None, None
    mean = float(vals.mean())
    if vals.size < 2:
        return mean, None
    return mean, float(vals.std(ddof=1))


def fmt_mean_std(values: Sequence, digits: int = 2) -> str:
    """``'85.31 ± 1.20'``; a single value is shown alone, no value as
    ``'–'``. NaN values are left out."""
    mean, std = mean_std(values)
    if mean is None:
        return '–'
    if std is None:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def median_min_max(values: Sequence[float]) -> Tuple[float, float, float]:
    """Median, minimum and maximum of a non-empty sequence (the median of
    an even count is the mean of the two middle values).

    Raises:
        ValueError: ``values`` is empty.
    """
    vals = np.asarray(values, dtype=np.float64)
    if not vals.size:
        raise ValueError('median_min_max of no values')
    return float(np.median(vals)), float(vals.min()), float(vals.max())
