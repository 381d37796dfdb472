from .transparency_head import TransparencyHead
from .dino_head import DINOHead

__all__ = ['TransparencyHead', 'DINOHead']
