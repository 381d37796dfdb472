"""Shared fixtures of the distributed tests: tiny generated data (written
once per session) that every launched config reads instead of its own."""
import types

import pytest

from tests._helpers.dist_launch import (TINY_NPZ, write_backbone_checkpoint,
                                        write_jpeg_folder, write_tiny_medmnist)
from tests._helpers.tmp_dirs import shared_tmp


@pytest.fixture(scope='session')
def tiny_data(request, tmp_path_factory):
    """``medmnist``: ``(data_root, ann_file)`` of a 32/16/16-sample
    BloodMNIST-format file; ``folder``: 16 JPEGs (image-folder configs,
    their targets and auxiliary sets); ``backbone``: a ResNet-18 of width 16
    saved under ``backbone.`` (what fine-tune configs load)."""
    root = shared_tmp(request, tmp_path_factory, 'tiny_data')
    return types.SimpleNamespace(
        medmnist=(write_tiny_medmnist(root / 'medmnist'), TINY_NPZ),
        folder=write_jpeg_folder(root / 'images', 16),
        backbone=write_backbone_checkpoint(root / 'backbone.pth'))
