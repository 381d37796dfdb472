from .dino_neck import DINONeck
from .resnet_generator import ResnetGenerator

__all__ = ['ResnetGenerator', 'DINONeck']
