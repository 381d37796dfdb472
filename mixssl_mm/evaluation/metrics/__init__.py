from .binary_metrics import PositiveClassMetric
from .per_class_accuracy import PerClassAccuracy
from .roc_auc import ROCAUC

__all__ = ['PerClassAccuracy', 'ROCAUC', 'PositiveClassMetric']
