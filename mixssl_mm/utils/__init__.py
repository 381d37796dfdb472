# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Small shared helpers that register nothing: reading checkpoints and
comparing their keys (:mod:`.checkpoint`), chunked file hashing
(:mod:`.hashing`), locating mmpretrain's own tools
(:mod:`.mmpretrain_tools`)."""
from .mmpretrain_tools import mmpretrain_tool_path, run_mmpretrain_tool

__all__ = ['mmpretrain_tool_path', 'run_mmpretrain_tool']
