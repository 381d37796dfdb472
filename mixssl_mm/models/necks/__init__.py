from .resnet_generator import ResnetGenerator
from .dino_neck import DINONeck

__all__ = ['ResnetGenerator', 'DINONeck']
