from . import transforms  # noqa: F401
from .medmnist import BLOODMNIST_ALL_8, BLOODMNIST_PAPER_4, MedMNIST
from .natural_photo_folder import NaturalPhotoFolder
from .photo_pool import NaturalPhotoPool

__all__ = [
    'MedMNIST', 'NaturalPhotoPool', 'NaturalPhotoFolder', 'BLOODMNIST_PAPER_4',
    'BLOODMNIST_ALL_8'
]
