# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The pre-flight of a whole run, in the order the entry points run it: the
one function each entry point calls before its Runner is built
(``mixssl_mm.apis.train``/``test``, so ``tools/train.py``, ``tools/test.py``,
``tools/dist_*.sh`` and the benchmark's stages; and the plugin's opt-in for
mmpretrain's own tools, on the config its ``merge_args`` returns)."""
import sys
from typing import List, Optional, Tuple

from .batches import check_train_batches
from .channels import check_feature_channels
from .checkpoints import (check_load_from_file, check_pretrained_files,
                          check_resume_file)
from .component_errors import explained_component_errors
from .config import check_custom_imports, check_randomness
from .dataloaders import check_dataloaders
from .dataset import check_split_files, preflight_dataset
from .eval_classes import check_eval_classes
from .evaluation import check_evaluation_parts
from .flags import check_auto_scale_lr, check_launcher
from .work_dir import _rank, check_work_dir, check_work_dir_is_folder

__all__ = ['preflight_train', 'preflight_test']


def _reporter(tool: str):

    def report(message: str) -> None:
        if _rank() == 0:
            print(f'{tool}: {message}', file=sys.stderr)

    return report


def preflight_train(
        cfg,
        overwrite: bool = False,
        tool: str = 'tools/train.py') -> Tuple[Optional[object], List[str]]:
    """Every check of a training run that needs no Runner, on the merged
    config ``cfg`` (resolutions are made in it, in place; each is said on
    the console, prefixed with ``tool``).

    Returns:
        ``(train dataset or None, checkpoint files --overwrite is to
        delete)``; the dataset can be handed to the Runner
        (``mixssl_mm.apis.train.use_prebuilt_dataset``).

    Raises:
        mixssl_mm.preflight.ConfigError: naming the problem and the fix;
            nothing has been written.
    """
    # a bad key or type of a component the checks build (the encoder probe,
    # the datasets), named where it is in the config
    with explained_component_errors(cfg):
        report = _reporter(tool)
        check_custom_imports(cfg)
        check_randomness(cfg)
        check_feature_channels(cfg)  # e.g. a depth change without the head
        check_launcher(cfg.get('launcher', 'none'), 'train')
        check_evaluation_parts(cfg, 'train')
        check_dataloaders(cfg)
        check_auto_scale_lr(cfg)
        to_delete = check_work_dir(cfg, overwrite)
        check_pretrained_files(cfg)
        check_load_from_file(cfg)
        check_resume_file(cfg, report)
        dataset = preflight_dataset(cfg, report)
        check_train_batches(cfg, dataset, report)
        for key, split in check_eval_classes(cfg, 'train', dataset,
                                             report).items():
            check_split_files(split, cfg, key)
        return dataset, to_delete


def preflight_test(cfg, tool: str = 'tools/test.py') -> None:
    """Every check of ``tools/test.py`` that needs no Runner, on the merged
    config ``cfg`` (``cfg.load_from`` is the CHECKPOINT).

    Raises:
        mixssl_mm.preflight.ConfigError: naming the problem and the fix.
    """
    # a bad key or type of a component the checks build, named
    with explained_component_errors(cfg):
        report = _reporter(tool)
        check_custom_imports(cfg)
        check_randomness(cfg)
        check_work_dir_is_folder(cfg)
        check_feature_channels(cfg)
        check_launcher(cfg.get('launcher', 'none'), 'test')
        check_evaluation_parts(cfg, 'test')
        check_dataloaders(cfg)
        check_load_from_file(cfg, tool='test')
        for key, split in check_eval_classes(
                cfg, 'test', report=report).items():
            check_split_files(split, cfg, key)
