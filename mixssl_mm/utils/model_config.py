# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The model dict a config's Runner would build.

mmpretrain's configs keep the data preprocessor at the top level
(``data_preprocessor = dict(mean=..., std=...)``) and mmengine's
``Runner.__init__`` merges it into the model dict
(``model.setdefault('data_preprocessor', data_preprocessor)``). Code that
builds ``cfg.model`` without the Runner must do the same, or the model
normalises nothing and sees 0-255 pixels.
"""
import copy


def runner_model_cfg(cfg) -> dict:
    """A deep copy of ``cfg.model`` with the config's top-level
    ``data_preprocessor`` merged in where the model dict has none (as
    ``mmengine.runner.Runner.__init__`` does).

    Args:
        cfg (mmengine.Config | dict): A full config with a ``model`` dict.

    Returns:
        dict: the model config to pass to ``MODELS.build``.
    """
    model_cfg = copy.deepcopy(cfg['model'])
    pre = cfg.get('data_preprocessor')
    if isinstance(model_cfg, dict) and pre is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(pre))
    return model_cfg
