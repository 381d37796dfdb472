"""mixssl_mm.datasets.utils.image_check: the one skip-corrupt helper
(used by CrossDomainMixup and the training pre-flight)."""
import os.path as osp

import pytest

from mixssl_mm.datasets.utils.image_check import (UnreadableMessages,
                                                  load_error, readable_indices)
from tests.conftest import write_image_folder

MESSAGES = UnreadableMessages(
    refused='{n} bad:\n{files}',
    none_readable='none:\n{files}',
    skipped='skipped {n}')


def _dataset(root):
    from mmpretrain.datasets import CustomDataset
    return CustomDataset(data_root=str(root), with_label=False, pipeline=[])


def test_readable_indices(tmp_path):
    root = write_image_folder(tmp_path / 'imgs', 4)
    dataset = _dataset(root)
    assert readable_indices(dataset, False, MESSAGES) is None
    bad = osp.join(root, 'b', '003.jpg')
    with open(bad, 'wb') as f:
        f.write(b'')
    with pytest.raises(RuntimeError, match=r'1 bad:\n  ' + bad):
        readable_indices(dataset, False, MESSAGES, error=RuntimeError)
    told = []
    keep = readable_indices(dataset, True, MESSAGES, report=told.append)
    assert keep == [0, 1, 2] and told == ['skipped 1']
    for name in ('a/000.jpg', 'b/001.jpg', 'a/002.jpg'):
        with open(osp.join(root, name), 'wb') as f:
            f.write(b'x')
    with pytest.raises(ValueError, match='none:'):
        readable_indices(dataset, True, MESSAGES)


def test_load_error_catches_a_truncated_body(tmp_path):
    root = write_image_folder(tmp_path / 'imgs', 1, size=64)
    path = osp.join(root, 'a', '000.jpg')
    assert load_error(path) is None  # a good file: the pipeline is at fault
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:200])  # header intact, body cut
    assert load_error(path) is not None
    assert load_error(str(tmp_path / 'nope.jpg')) == 'file not found'
