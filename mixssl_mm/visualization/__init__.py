# Copyright (c) mixssl_mm contributors. All rights reserved.
from .mixssl_grid import COLUMNS, draw_mixssl_grid, grid_layout, to_rgb_uint8

__all__ = ['COLUMNS', 'draw_mixssl_grid', 'grid_layout', 'to_rgb_uint8']
