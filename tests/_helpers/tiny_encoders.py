"""Shrinking shipped configs whose encoder is not a ResNet (the MixSSL
ConvNeXt and ViT configs) for the launch matrix.

:func:`mixssl_mm.analysis.shrink.shrink_options` shrinks a config's ResNet
to a narrow ResNet-18 and refuses any other encoder. Here such an encoder
keeps its family at the smallest size mmpretrain names and every setting
that reads it follows the pre-flight's probe
(:func:`mixssl_mm.analysis.shrink.encoder_options`); data, resolution and
schedule are shrunk by ``shrink_options`` itself (on a stand-in ResNet,
whose model options are then dropped). When ``shrink_options`` shrinks any
encoder this module goes.
"""
import copy
from collections import OrderedDict

from mixssl_mm.analysis.shrink import (RESNETS, encoder_options, model_options,
                                       shrink_options)


def shrink_any_options(cfg, **kwargs) -> OrderedDict:
    """``shrink_options(cfg, **kwargs)`` for a config with any encoder."""
    if cfg.model.backbone.get('type') in RESNETS:
        return shrink_options(cfg, **kwargs)
    stand_in = copy.deepcopy(cfg)
    stand_in.model.backbone = dict(type='ResNet', depth=50)
    opts = shrink_options(stand_in, **kwargs)
    for key in model_options(stand_in):
        opts.pop(key, None)
    opts.update(encoder_options(cfg))
    return opts
