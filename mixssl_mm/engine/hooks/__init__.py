# Copyright (c) mixssl_mm contributors. All rights reserved.
from .exact_resume_hook import ExactResumeHook
from .mixssl_visualization_hook import MixSSLVisualizationHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook

__all__ = [
    'MixSSLVisualizationHook', 'ExactResumeHook', 'NonFiniteLossHook',
    'NonFiniteLossError'
]
