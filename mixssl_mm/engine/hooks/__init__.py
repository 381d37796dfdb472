# Copyright (c) mixssl_mm contributors. All rights reserved.
from .bn_recalibration_hook import BNRecalibrationHook
from .dino_last_layer_freeze_hook import DINOLastLayerFreezeHook
from .dino_teacher_temp_warmup_hook import DINOTeacherTempWarmupHook
from .dump_predictions_hook import DumpPredictionsHook
from .exact_resume_hook import ExactResumeHook
from .knn_eval_hook import KNNEvalHook
from .mixssl_visualization_hook import MixSSLVisualizationHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook

__all__ = [
    'MixSSLVisualizationHook', 'ExactResumeHook', 'NonFiniteLossHook',
    'NonFiniteLossError', 'DINOLastLayerFreezeHook',
    'DINOTeacherTempWarmupHook', 'KNNEvalHook', 'DumpPredictionsHook',
    'BNRecalibrationHook'
]
