# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Small shared helpers that register nothing: reading checkpoints and
comparing their keys (:mod:`.checkpoint`), chunked file hashing
(:mod:`.hashing`), locating mmpretrain's own tools
(:mod:`.mmpretrain_tools`), the model dict a Runner would build
(:mod:`.model_config`)."""
from .mmpretrain_tools import mmpretrain_tool_path, run_mmpretrain_tool
from .model_config import runner_model_cfg

__all__ = ['mmpretrain_tool_path', 'run_mmpretrain_tool', 'runner_model_cfg']
