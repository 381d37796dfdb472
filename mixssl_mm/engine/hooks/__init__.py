# Copyright (c) mixssl_mm contributors. All rights reserved.
from .mixssl_visualization_hook import MixSSLVisualizationHook

__all__ = ['MixSSLVisualizationHook']
