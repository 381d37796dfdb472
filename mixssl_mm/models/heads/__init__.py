from .mixssl_reconstruction_head import MixSSLReconstructionHead
from .transparency_head import TransparencyHead
from .dino_head import DINOHead

__all__ = ['MixSSLReconstructionHead', 'TransparencyHead', 'DINOHead']
