# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Train a model: mmpretrain's ``tools/train.py`` (its own ``parse_args``
and ``merge_args``, so every flag behaves the same) with pre-flight checks
before any work starts and a clean work dir when a run fails early.

``python -m mixssl_mm.apis.train CONFIG [--work-dir --resume --amp
--auto-scale-lr --cfg-options --launcher ... --overwrite]`` is what
``tools/train.py`` runs. Added on top of mmpretrain's script (the checks live
in :mod:`mixssl_mm.preflight`; docs/reliability.md has the full list):

- bad inputs are refused before anything is written, naming the problem and
  the fix: a config without ``custom_imports`` for the plugin, a missing or
  mismatched ``Pretrained`` checkpoint or ``load_from`` (an unconverted
  torchvision/DINO file is named with the converter command, see
  docs/model_converters.md), unreadable target images (or skipped
  with ``data_check = dict(skip_corrupt=True)``), a BloodMNIST file whose md5
  is not the official one, a work dir that already holds checkpoints;
  config parts the model cannot honour (``val_*``/``test_*`` on a
  self-supervised algorithm, ``save_best`` without validation), dataloader
  options that contradict each other (resolved when lossless, e.g.
  ``persistent_workers`` with ``num_workers=0``), a flag whose config part
  is missing (``--auto-scale-lr``, ``--amp``, ``--launcher``), a
  ``load_from`` or ``--resume`` checkpoint that does not fit the model, a
  neck/head whose channels are not the ResNet encoder's (a depth change),
  an image that ``CrossDomainMixup`` will not mix (the first sample);
  epochs without a batch, a last batch of one sample with BatchNorm
  (resolved with ``drop_last`` when that loses less than a batch),
  validation classes that are not the training classes, a loader that
  reduces the files' bit depth, dataset errors of a known cause, a key
  that its component (model, transform, hook, optimizer, metric) does not
  take or a type no registry holds (where mmengine builds it, with the
  closest valid one), an
  unreadable newest ``--resume`` checkpoint (``--resume`` alone falls back
  to the newest intact one);
- the train dataset is built once, before the Runner, and handed to it;
- a run that fails before its first iteration completes removes what it
  created in the work dir (the Runner creates ``<work_dir>/<timestamp>/``
  and dumps the config when it is constructed);
- ``--overwrite`` starts over in a work dir that holds checkpoints (they are
  deleted first);
- a completed run ends its data-loader workers and its process group before
  the interpreter exits (:mod:`mixssl_mm.apis.teardown`), so it exits 0.
"""
import copy
import sys
from typing import List, Optional

from mixssl_mm.apis.cli import build_runner, parse_and_read
from mixssl_mm.apis.teardown import finish_run
from mixssl_mm.preflight import (WorkDirGuard, check_load_from_keys,
                                 check_pretrained_keys, delete_for_overwrite,
                                 preflight_train)
from mixssl_mm.preflight.component_errors import explained_component_errors
from mixssl_mm.preflight.flags import check_train_flags

# the plugin's option, added to mmpretrain's parser (mixssl_mm.apis.cli)
EXTRA_OPTIONS = {
    '--overwrite':
    dict(
        action='store_true',
        help='start over in a work dir that already holds checkpoints, '
        'deleting them (without it the run is refused; --resume continues '
        'them instead)'),
}
EPILOG = """mixssl_mm's config keys (docs/reliability.md):
  data_check = dict(images=True, skip_corrupt=False)
  strict_pretrained = True
  quiet_startup = False"""


def use_prebuilt_dataset(runner, dataset) -> None:
    """Hand the pre-flight dataset to the Runner, which would otherwise build
    it again from the config (``runner.cfg`` keeps the config as written)."""
    loader = runner._train_dataloader
    if dataset is None or not isinstance(loader, dict):
        return

    def prebuilt_train_dataset():
        return dataset

    loader = copy.copy(loader)
    loader['dataset'] = dict(type=prebuilt_train_dataset)
    runner._train_dataloader = loader


def train(cfg, overwrite: bool = False):
    """Check ``cfg`` (merged with the command line), then train.

    Returns:
        The Runner, after ``runner.train()``.

    Raises:
        mixssl_mm.preflight.ConfigError: a pre-flight check refused an input
            (nothing was written); any error of the run itself.
    """
    dataset, to_delete = preflight_train(cfg, overwrite)
    delete_for_overwrite(to_delete)
    # a misspelt key or type of the model, a hook, the optimizer, ... is
    # found where mmengine builds the component: named with its fix
    with WorkDirGuard(cfg.work_dir) as guard, explained_component_errors(cfg):
        runner = build_runner(cfg)
        use_prebuilt_dataset(runner, dataset)
        if cfg.get('strict_pretrained', True):
            check_pretrained_keys(runner.model)
        check_load_from_keys(cfg, runner.model)  # and the --resume file
        runner.register_hook(guard.hook())
        runner.train()
    return runner


def main(argv: Optional[List[str]] = None):
    """``tools/train.py``: the same command line as mmpretrain's, plus
    ``--overwrite``; ``argv`` defaults to ``sys.argv[1:]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    mm, args, cfg = parse_and_read('train.py', argv, EXTRA_OPTIONS, EPILOG)
    check_train_flags(cfg, args)  # before merge_args, which needs the parts
    cfg = mm['merge_args'](cfg, args)
    runner = train(cfg, overwrite=args.overwrite)
    finish_run()  # workers and process group end before the interpreter
    return runner


if __name__ == '__main__':
    main()
