import os.path as osp
import sys

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from mixssl_mm.compat import apply_compat_fixes  # noqa: E402

# the stack fixes, as every entry point of the project applies them
# (docs/compat.md); importing the plugin alone changes nothing
# (tests/test_compat.py::test_import_changes_no_attribute_of_the_stack)
apply_compat_fixes()
from mmengine.registry import init_default_scope  # noqa: E402

import mixssl_mm  # noqa: E402,F401  (registers components)
# a fixture for every test module (training runs in this process)
from tests._helpers.training import train_in_process  # noqa: E402,F401

# as a Runner does with default_scope='mmpretrain': nested transforms
# (RandomApply) build from the current scope
init_default_scope('mmpretrain')


def write_image_folder(root, n, size=40, classes=('a', 'b'), seed=0):
    """Write ``n`` random JPEGs into ImageNet-style class sub-folders."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = osp.join(root, classes[i % len(classes)])
        import os
        os.makedirs(d, exist_ok=True)
        img = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(d, f'{i:03d}.jpg'), img)
    return str(root)


@pytest.fixture
def image_folders(tmp_path):
    target = write_image_folder(tmp_path / 'target', 8, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 5, classes=('x', ), seed=2)
    return target, aux


@pytest.fixture
def one_thread():
    """One torch thread for the test: the runs are tiny, and on a shared
    2-core machine one thread is several times faster than two competing
    ones."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
