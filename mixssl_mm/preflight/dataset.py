# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of the training data: the train dataset (and so its
pipeline, e.g. ``CrossDomainMixup`` and its auxiliary set) is built once,
before the Runner, and its files are checked."""
import os.path as osp
import sys

from mixssl_mm.datasets.utils.fetch import BLOODMNIST_MD5, FETCH_COMMAND
from mixssl_mm.datasets.utils.image_check import (UnreadableMessages,
                                                  readable_indices)
from mixssl_mm.datasets.utils.image_contract import ImageContractError
from mixssl_mm.utils.hashing import file_hash
from .bit_depth import check_loader_bit_depth
from .dataset_errors import build_dataset
from .error import ConfigError

__all__ = [
    'check_medmnist_md5', 'check_target_images', 'check_first_sample',
    'preflight_dataset', 'check_split_files'
]

_TARGET_UNREADABLE = UnreadableMessages(
    refused='{n} training image file(s) cannot be read:\n{files}\nRemove or '
    'replace them, or set data_check = dict(skip_corrupt=True) in the config '
    '(--cfg-options data_check.skip_corrupt=True) to train without them.',
    none_readable='none of the training images can be read, e.g.:\n{files}',
    skipped='data_check.skip_corrupt=True: leaving out {n} unreadable '
    'training image(s):\n{files}')


def check_medmnist_md5(dataset) -> None:
    """A file named like an official BloodMNIST file must be that file.

    Raises:
        ConfigError: its md5 is not the official one.
    """
    ann_file = getattr(dataset, 'ann_file', None)
    if type(dataset).__name__ != 'MedMNIST' or not ann_file:
        return
    official = BLOODMNIST_MD5.get(osp.basename(ann_file))
    if official is None:
        return
    actual = file_hash(ann_file, 'md5')
    if actual != official:
        raise ConfigError(
            f'{ann_file} is not the official {osp.basename(ann_file)}: its '
            f'md5 is {actual}, the official one is {official}. '
            'The file is damaged or was replaced; fetch it again with '
            f'`{FETCH_COMMAND}` (it checks the md5), or '
            'give your own data another file name.')


def check_target_images(dataset, cfg, logger=print):
    """Header-check every image file of the train dataset; refuse unreadable
    ones, or leave them out when ``data_check.skip_corrupt`` is set.

    Returns:
        ``dataset``, or its subset of readable samples.

    Raises:
        ConfigError: unreadable images without ``skip_corrupt``, or none
            readable.
    """
    check = dict(images=True, skip_corrupt=False)
    check.update(cfg.get('data_check') or {})
    if not check['images']:
        return dataset
    keep = readable_indices(
        dataset,
        check['skip_corrupt'],
        _TARGET_UNREADABLE,
        error=ConfigError,
        report=logger)
    return dataset if keep is None else dataset.get_subset(keep)


def check_first_sample(dataset) -> None:
    """Run the pipeline on the first training sample, so that an image
    ``CrossDomainMixup`` will not mix (16-bit, 0–1 float, 4 channels; see
    :mod:`mixssl_mm.datasets.utils.image_contract`) is refused before the
    Runner exists. Every pair is checked again when it is mixed.

    Only that refusal is raised here: any other error of the sample is left
    to the run, which reports it in its own context (and cleans up). The
    random draws of this sample do not change the run: the Runner seeds the
    generators after the pre-flight.

    Raises:
        ConfigError: the pipeline's ``ImageContractError``, with its fix.
    """
    if len(dataset) == 0:
        return
    try:
        dataset[0]
    except ImageContractError as e:
        raise ConfigError(f'the first training sample: {e}') from e
    except Exception:  # noqa: B902  reported by the run itself
        pass


def preflight_dataset(cfg, report=None):
    """Build the train dataset of ``cfg`` (None without training or a dataset
    config) and check its files: a dataset error of a known cause is
    explained (:mod:`.dataset_errors`), a BloodMNIST file must be the
    official one, unreadable images are refused or left out, a loader that
    reduces the files' bit depth is refused (:mod:`.bit_depth`), and the
    first sample goes through the pipeline. The result is handed to the
    Runner."""
    if report is None:

        def report(m):
            print(f'tools/train.py: {m}', file=sys.stderr)

    loader = cfg.get('train_dataloader')
    if (cfg.get('train_cfg') is None or not isinstance(loader, dict)
            or not isinstance(loader.get('dataset'), dict)):
        return None
    key = 'train_dataloader.dataset'
    dataset = build_dataset(loader['dataset'], key,
                            cfg.get('default_scope', 'mmpretrain'))
    check_medmnist_md5(dataset)
    dataset = check_target_images(dataset, cfg, logger=report)
    check_split_files(dataset, cfg, key)
    check_first_sample(dataset)
    return dataset


def check_split_files(dataset, cfg, key: str) -> None:
    """What the files of a split need beyond being readable: the pipeline's
    loader must not reduce their bit depth (``data_check.images=False``
    turns the file checks off).

    Raises:
        ConfigError: see :func:`~.bit_depth.check_loader_bit_depth`.
    """
    if (cfg.get('data_check') or {}).get('images', True):
        check_loader_bit_depth(dataset, key)
