from .dino_head import DINOHead
from .mixssl_reconstruction_head import MixSSLReconstructionHead
from .transparency_head import TransparencyHead

__all__ = ['MixSSLReconstructionHead', 'TransparencyHead', 'DINOHead']
