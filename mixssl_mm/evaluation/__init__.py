from . import metrics  # noqa: F401
from .metrics import PerClassAccuracy, ROCAUC

__all__ = ['PerClassAccuracy', 'ROCAUC']
