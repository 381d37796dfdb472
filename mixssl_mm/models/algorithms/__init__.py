from .mixssl import MixSSL

__all__ = ['MixSSL']
