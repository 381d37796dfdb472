# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The ``-h`` layout of every tool (``tools/**/*.py`` and mmpretrain's
``train.py``/``test.py`` as :mod:`mixssl_mm.apis.cli` completes them).
Standard library only: ``tools/data/fetch_bloodmnist.py`` stays cheap."""
import argparse

__all__ = ['HelpFormatter']


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``-h`` with every option's default: ``(default: X)`` is appended to a
    help text that does not state a default already, for defaults other
    than None and False (a flag that is off, an option that is unset); the
    description and epilog keep their line breaks."""

    def _get_help_string(self, action):
        text = action.help or ''
        if ('default' not in text.lower() and not any(
                action.default is v for v in (None, False, argparse.SUPPRESS))
                and
            (action.option_strings
             or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))):
            text += ' (default: %(default)s)'
        return text
