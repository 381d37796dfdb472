"""Plain functions behind the evaluation components (no registries)."""
from .knn import knn_class_scores, knn_predict, knn_top1

__all__ = ['knn_class_scores', 'knn_predict', 'knn_top1']
