"""mixssl_mm.utils.mmpretrain_tools: mmpretrain's own tools, found in its
installed wheel; a misspelt tool name is named with the closest tools (it
said "reinstall mmpretrain")."""
import os.path as osp

import pytest

from mixssl_mm.utils import mmpretrain_tool_path


def test_a_tool_is_found_in_the_installed_wheel():
    path = mmpretrain_tool_path('analysis_tools/get_flops.py')
    assert osp.isfile(path) and path.endswith(
        osp.join('tools', 'analysis_tools', 'get_flops.py'))


def test_a_misspelt_tool_names_the_closest():
    with pytest.raises(
            FileNotFoundError,
            match=r"mmpretrain has no tool 'trian'\. Did you mean 'train'\?"
            r" Its tools: .*analysis_tools/get_flops"):
        mmpretrain_tool_path('trian.py')
