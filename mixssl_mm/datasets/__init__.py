from . import transforms  # noqa: F401
from .medmnist import BLOODMNIST_ALL_8, BLOODMNIST_PAPER_4, MedMNIST
from .photo_pool import NaturalPhotoPool

__all__ = [
    'MedMNIST', 'NaturalPhotoPool', 'BLOODMNIST_PAPER_4', 'BLOODMNIST_ALL_8'
]
