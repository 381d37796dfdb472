# Copyright (c) mixssl_mm contributors. All rights reserved.
"""File-system checks shared by the tools: the one home of
:func:`file_in_the_way` (work dirs, the benchmark's ``--work-dir``, the data
fetchers' ``--out``)."""
import os.path as osp
from typing import Optional

__all__ = ['file_in_the_way']


def file_in_the_way(folder: str) -> Optional[str]:
    """The file that ``folder`` is, or lies in (its nearest existing
    parent), so that it cannot be created; None when there is none."""
    path = osp.abspath(osp.expanduser(folder))
    while not osp.exists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    return None if osp.isdir(path) else path
