from . import hooks  # noqa: F401
from .hooks import MixSSLVisualizationHook

__all__ = ['MixSSLVisualizationHook']
