# Copyright (c) mixssl_mm contributors. All rights reserved.
"""mmengine's ``Config`` whose ``pretty_text`` is formatted by yapf once per
distinct config text in a process instead of on every call.

A Runner asks for ``pretty_text`` five times for the same config: the
config it logs, the ``<work_dir>/<name>.py`` it dumps (twice), the message
hub's copy and each checkpoint's meta. mmengine 0.10 formats the text with
yapf every time, 0.1-0.6 s of CPU a call for the shipped configs: about a
fifth of a short run's start-up. ``format_python_code=False`` would skip yapf
but change the text (and ``Config.fromfile`` drops the argument for
non-lazy configs). Here the text stays mmengine's: ``pretty_text`` is a
function of the unformatted text (mmengine's own ``format_python_code=False``
output, cheap to build), so the formatted text of an unformatted text
already seen is reused; a changed config gives a new unformatted text and
is formatted anew.

Used by :func:`mixssl_mm.apis.cli.parse_and_read` (``tools/train.py``,
``tools/test.py`` and their ``python -m mixssl_mm.apis.*`` forms); the
Runner's deep copy of the config keeps the class.
"""
import copy
from typing import Dict

from mmengine.config import Config

__all__ = ['FormattedOnceConfig', 'formatted_once']

# unformatted text -> mmengine's formatted text, for this process
_FORMATTED: Dict[str, str] = {}


class FormattedOnceConfig(Config):
    """``Config`` with yapf run once per distinct text (see the module
    docstring); everything else is mmengine's."""

    @property
    def pretty_text(self) -> str:
        plain = copy.copy(self)
        object.__setattr__(plain, '_format_python_code', False)
        key = Config.pretty_text.fget(plain)
        if key not in _FORMATTED:
            _FORMATTED[key] = Config.pretty_text.fget(self)
        return _FORMATTED[key]


def formatted_once(cfg: Config) -> Config:
    """``cfg`` itself as a :class:`FormattedOnceConfig` (``Config.fromfile``
    builds a plain ``Config``; nothing is copied)."""
    # Config.__setattr__ would store __class__ as a config key
    object.__setattr__(cfg, '__class__', FormattedOnceConfig)
    return cfg
