from .mmpretrain_tools import mmpretrain_tool_path, run_mmpretrain_tool

__all__ = ['mmpretrain_tool_path', 'run_mmpretrain_tool']
