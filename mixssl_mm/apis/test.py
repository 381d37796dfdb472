# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Test a model: mmpretrain's ``tools/test.py`` (its own ``parse_args`` and
``merge_args``, so every flag behaves the same) with the pre-flight checks
of :mod:`mixssl_mm.preflight` before any test work.

``python -m mixssl_mm.apis.test CONFIG CHECKPOINT [--work-dir --out
--out-item --cfg-options --amp --tta --launcher ...]`` is what
``tools/test.py`` (and so ``tools/dist_test.sh``) runs. Refused before the
Runner is built, naming the fix: a config without ``custom_imports``, a
neck/head whose channels are not the ResNet encoder's (a depth change), a
model with no predict mode (a self-supervised algorithm) or a config without
``test_*`` parts, a flag whose config part is missing (``--amp``, ``--tta``,
``--show``, ``--launcher``), a CHECKPOINT that is no file, a test split
whose classes are not the model's or the training split's, a loader that
reduces the files' bit depth, dataset errors of a known cause, a key that
its component (model, transform, metric) does not take or a type no
registry holds (with the closest valid one);
contradicting dataloader options are resolved or refused. After the Runner
is built and before the test starts, a CHECKPOINT that does not fit the
model is refused (mmengine would log the mismatches and score partly random
weights); what the Runner created in the work dir is then removed.
"""
import sys
from typing import List, Optional

from mixssl_mm.apis.cli import build_runner, parse_and_read
from mixssl_mm.apis.teardown import finish_run
from mixssl_mm.preflight import (WorkDirGuard, check_load_from_keys,
                                 preflight_test)
from mixssl_mm.preflight.component_errors import explained_component_errors
from mixssl_mm.preflight.flags import check_test_flags


def test(cfg, out: Optional[str] = None, out_item: Optional[str] = None):
    """Check ``cfg`` (merged with the command line; ``cfg.load_from`` is the
    checkpoint), then test it as mmpretrain's ``tools/test.py`` does.

    Args:
        out: ``--out``: the predictions (``out_item`` None or ``'pred'``,
            mmengine's ``DumpResults`` pickle) or the metrics
            (``'metrics'``) are written there.

    Returns:
        The metrics of ``runner.test()``.

    Raises:
        mixssl_mm.preflight.ConfigError: a pre-flight check refused an input
            (nothing is left in the work dir); any error of the test itself.
    """
    preflight_test(cfg)
    # a misspelt key of the model or a metric is named with its fix before
    # the test, and the guard removes what the Runner wrote
    with WorkDirGuard(
            cfg.work_dir, tool='tools/test.py',
            when='before testing'), explained_component_errors(cfg):
        runner = build_runner(cfg)
        check_load_from_keys(cfg, runner.model, tool='test')
        evaluator = runner.test_evaluator  # builds the loop and metrics
    if out and out_item in ('pred', None):
        from mmengine.evaluator import DumpResults
        evaluator.metrics.append(DumpResults(out_file_path=out))
    metrics = runner.test()
    if out and out_item == 'metrics':
        import mmengine
        mmengine.dump(metrics, out)
    return metrics


def main(argv: Optional[List[str]] = None):
    """``tools/test.py``: the same command line as mmpretrain's; ``argv``
    defaults to ``sys.argv[1:]``.

    Raises:
        SystemExit: from mmpretrain's argument parser (``-h``, bad flags).
        mixssl_mm.preflight.ConfigError: see :func:`test`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    mm, args, cfg = parse_and_read('test.py', argv)
    check_test_flags(cfg, args)  # before merge_args, which needs the parts
    cfg = mm['merge_args'](cfg, args)
    metrics = test(cfg, args.out, args.out_item)
    finish_run()  # workers and process group end before the interpreter
    return metrics


if __name__ == '__main__':
    main()
