from .cross_domain_mixup import CrossDomainMixup
from .scale_to_uint8 import ScaleToUint8

__all__ = ['CrossDomainMixup', 'ScaleToUint8']
