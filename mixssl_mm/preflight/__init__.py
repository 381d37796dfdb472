# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks that ``python -m mixssl_mm.apis.train`` and
``mixssl_mm.apis.test`` (and so ``tools/train.py``, ``tools/test.py``) run
before the Runner; each refusal is a :class:`ConfigError` naming the problem
and the fix (docs/reliability.md).

- :mod:`.config`: the config imports the plugin (``custom_imports``);
- :mod:`.flags`: command-line flags have the config parts they need;
- :mod:`.evaluation`: val/test parts the model can run (none for a
  self-supervised algorithm);
- :mod:`.dataloaders`: contradicting dataloader options resolved or refused;
- :mod:`.checkpoints`: ``Pretrained`` / ``load_from`` / ``--resume`` / test
  CHECKPOINT files exist and fit the model;
- :mod:`.dataset`: the train dataset builds, its images read, a BloodMNIST
  file is the official one;
- :mod:`.work_dir`: no earlier checkpoints are overwritten; a run that fails
  early leaves nothing behind (:class:`WorkDirGuard`);
- :mod:`.batches`: epochs without a batch, a last batch of one sample with
  BatchNorm (per rank, from the sampler);
- :mod:`.eval_classes`: evaluation splits with the model's and the training
  split's classes;
- :mod:`.dataset_errors`: dataset errors of a known cause, explained;
- :mod:`.component_errors`: a key its component does not take or a type no
  registry holds, named where it is with the closest valid one (the entry
  points wrap the Runner in it);
- :mod:`.bit_depth`: a loader that reduces the files' bit depth.

:func:`preflight_train` / :func:`preflight_test` (:mod:`.runs`) run them all
in order: the one call of each entry point.
"""
from .checkpoints import (check_load_from_file, check_load_from_keys,
                          check_pretrained_files, check_pretrained_keys,
                          check_resume_file, check_trained)
from .config import IMPORT_LINE, check_custom_imports
from .dataset import (check_first_sample, check_medmnist_md5,
                      check_target_images, preflight_dataset)
from .dataset_errors import build_dataset, explain_dataset_error
from .error import ConfigError
from .runs import preflight_test, preflight_train
from .work_dir import (WorkDirGuard, check_work_dir, delete_for_overwrite,
                       existing_checkpoints)

__all__ = [
    'ConfigError', 'IMPORT_LINE', 'check_custom_imports',
    'check_pretrained_files', 'check_load_from_file', 'check_pretrained_keys',
    'check_load_from_keys', 'check_resume_file', 'check_trained',
    'check_first_sample', 'check_medmnist_md5', 'check_target_images',
    'preflight_dataset', 'check_work_dir', 'delete_for_overwrite',
    'existing_checkpoints', 'WorkDirGuard', 'build_dataset',
    'explain_dataset_error', 'preflight_train', 'preflight_test'
]
