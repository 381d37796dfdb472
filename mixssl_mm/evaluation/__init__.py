from . import metrics  # noqa: F401
from .metrics import ROCAUC, PerClassAccuracy

__all__ = ['PerClassAccuracy', 'ROCAUC']
