from .resnet_generator import ResnetGenerator

__all__ = ['ResnetGenerator']
