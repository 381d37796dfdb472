from .transparency_head import TransparencyHead

__all__ = ['TransparencyHead']
