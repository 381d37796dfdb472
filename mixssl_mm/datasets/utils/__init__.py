# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Dataset helpers that register nothing: fetching BloodMNIST
(:mod:`.fetch`; its functions are not re-exported here, so that
``mixssl_mm.datasets.utils.fetch`` stays the module) and checking image
files (:mod:`.image_check`)."""
from .image_check import (UnreadableMessages, dataset_image_paths,
                          format_bad_images, image_error, load_error,
                          readable_indices, unreadable_images)

__all__ = [
    'UnreadableMessages', 'dataset_image_paths', 'format_bad_images',
    'image_error', 'load_error', 'readable_indices', 'unreadable_images'
]
