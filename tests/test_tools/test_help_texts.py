"""``-h`` of every tool: each option has a help text, and ``-h`` states its
default (a flag that is off and an unset option excepted); the table below
must name every ``tools/**/*.py`` (a new tool fails until it is added)."""
import argparse
import glob
import os.path as osp
import runpy

import pytest

from mixssl_mm.apis.cli import tool_parser
from mixssl_mm.apis.train import EPILOG, EXTRA_OPTIONS
from tests._helpers.training import REPO


class _Built(Exception):

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _script_parser(path, fn='parse_args'):
    """The parser that ``fn`` of the script at ``path`` (relative to the
    repository) builds, caught just before it parses."""
    return lambda: runpy.run_path(osp.join(REPO, path))[fn]([])


def _module_parser(module, fn):

    def build():
        import importlib
        return getattr(importlib.import_module(module), fn)([])

    return build


THROUGHPUT = _module_parser('mixssl_mm.analysis.throughput',
                            'parse_throughput_args')
# tool -> a callable that builds its parser (and parses, which is caught)
TOOLS = {
    'tools/train.py':
    lambda: tool_parser('train.py', EXTRA_OPTIONS, EPILOG),
    'tools/test.py':
    lambda: tool_parser('test.py'),
    'tools/benchmark.py':
    _module_parser('mixssl_mm.benchmark.cli', 'parse_benchmark_args'),
    'tools/analysis_tools/benchmark_throughput.py':
    THROUGHPUT,
    'tools/analysis_tools/profile_mixssl_step.py':
    THROUGHPUT,
    'tools/analysis_tools/gpu_acceptance.py':
    _module_parser('mixssl_mm.analysis.acceptance', 'parse_args'),
    'tools/analysis_tools/lambda_shortcut.py':
    _module_parser('mixssl_mm.analysis.lambda_shortcut', 'parse_args'),
    'tools/visualization/vis_mixssl.py':
    _module_parser('mixssl_mm.visualization.checkpoint_grid', 'parse_args'),
    'tools/data/fetch_bloodmnist.py':
    _script_parser('tools/data/fetch_bloodmnist.py'),
    'tools/data/fetch_natural_photos.py':
    _script_parser('tools/data/fetch_natural_photos.py'),
    'tools/model_converters/resnet_to_mmpretrain.py':
    _script_parser('tools/model_converters/resnet_to_mmpretrain.py'),
}


def test_the_table_names_every_tool():
    found = {
        osp.relpath(p, REPO)
        for p in glob.glob(
            osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
    }
    assert found == set(TOOLS)


def _parser(build, monkeypatch):
    if build in (TOOLS['tools/train.py'], TOOLS['tools/test.py']):
        return build()  # mixssl_mm.apis.cli hands its parser out itself

    def caught(self, args=None, namespace=None):
        raise _Built(self)

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', caught)
    with pytest.raises(_Built) as built:
        build()
    return built.value.parser


@pytest.mark.parametrize('tool', sorted(TOOLS))
def test_every_option_has_a_help_text_and_its_default(tool, monkeypatch):
    parser = _parser(TOOLS[tool], monkeypatch)
    formatter = parser.formatter_class(prog=parser.prog)
    bad = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = '/'.join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            bad.append(f'{name}: no help text')
            continue
        shown = formatter._get_help_string(action) % dict(
            vars(action), prog=parser.prog)
        if not any(action.default is v
                   for v in (None, False, argparse.SUPPRESS)) \
                and 'default' not in shown.lower():
            bad.append(f'{name}: default {action.default!r} not stated')
    assert not bad, bad
    parser.format_help()  # every %(...)s in the help texts resolves


# the tools that apply the stack fixes (mixssl_mm.compat), which log a line
# each; docs/compat.md: after the arguments are parsed, so -h prints only
# the help (benchmark.py and the analysis tools printed 8 lines first)
COMPAT_TOOLS = [
    'tools/train.py', 'tools/test.py', 'tools/benchmark.py',
    'tools/analysis_tools/benchmark_throughput.py',
    'tools/analysis_tools/gpu_acceptance.py',
    'tools/analysis_tools/lambda_shortcut.py',
    'tools/analysis_tools/profile_mixssl_step.py'
]


@pytest.mark.parametrize('tool', COMPAT_TOOLS)
def test_h_prints_only_the_help(tool, monkeypatch, capsys):
    # in this process the fixes are applied already (conftest) and would
    # log nothing: a fix applied before the arguments are parsed fails here
    import sys

    import mixssl_mm.compat

    def too_early():
        raise AssertionError('the stack fixes were applied before -h')

    monkeypatch.setattr(mixssl_mm.compat, 'apply_compat_fixes', too_early)
    monkeypatch.setattr(sys, 'argv', [tool, '-h'])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(osp.join(REPO, tool), run_name='__main__')
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith('usage: ')
