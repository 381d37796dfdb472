from .cross_domain_mixup import CrossDomainMixup

__all__ = ['CrossDomainMixup']
