"""Shrinking shipped configs whose encoder is not a ResNet (the MixSSL
ConvNeXt and ViT configs) for the launch matrix.

:func:`mixssl_mm.benchmark.shrink.shrink_options` shrinks a config's ResNet
to a narrow ResNet-18 and refuses any other encoder. Here such an encoder
keeps its family at the smallest size mmpretrain names (a ``--cfg-options``
string, as the launchers take them), and every setting that reads it is set
to the channels the pre-flight's probe measures on it; data, resolution and
schedule are shrunk by ``shrink_options`` itself (on a stand-in ResNet, whose
model options are then dropped). When ``shrink_options`` shrinks any encoder
this module goes.
"""
import copy
from collections import OrderedDict

from mixssl_mm.benchmark.shrink import RESNETS, model_options, shrink_options
from mixssl_mm.preflight.channels import (feature_channel_mismatches,
                                          probe_encoder)

# the smallest arch of each family mmpretrain names: ConvNeXt-atto (3.7 M
# parameters, 320 channels), DeiT-tiny (5.7 M, 192)
SMALLEST_ARCH = {'ConvNeXt': 'atto', 'VisionTransformer': 'deit-tiny'}


def encoder_options(cfg) -> 'OrderedDict':
    """cfg-options for the smallest arch of the config's (non-ResNet)
    encoder family and every reader of its channels.

    Raises:
        KeyError: an encoder family not in :data:`SMALLEST_ARCH`.
    """
    model = cfg.model.to_dict()
    arch = SMALLEST_ARCH[model['backbone']['type']]
    model['backbone']['arch'] = arch
    channels, _ = probe_encoder(model)
    opts = OrderedDict([('model.backbone.arch', arch)])
    for key, _ in feature_channel_mismatches(model, channels):
        opts[key] = channels
    return opts


def shrink_any_options(cfg, **kwargs) -> 'OrderedDict':
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
