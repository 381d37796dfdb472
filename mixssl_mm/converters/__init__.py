# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Weight conversion into mmpretrain checkpoints (no command line here; see
``tools/model_converters/``)."""
from .resnet import ConversionError, convert

__all__ = ['ConversionError', 'convert']
