"""A non-editable ``pip install .`` into a fresh venv, used from a directory
outside the checkout: the package must not need the repository.

The venv sees this interpreter's site-packages (``--system-site-packages``)
for torch/mmpretrain and pip/setuptools, and gets its own copy of mixssl_mm, built from a copy
of the checkout (``--no-deps --no-build-isolation``: nothing is downloaded);
its site-packages comes before the system one, so that copy is what
``import mixssl_mm`` finds. From an empty folder it then converts a ResNet,
fetches BloodMNIST from a local file, runs the pre-flight md5 check and
trains through ``python -m mixssl_mm.apis.train`` (pre-flight included).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests._helpers.training import REPO, classifier_config
from tests.conftest import write_image_folder

# what a source distribution would not carry either
NOT_COPIED = shutil.ignore_patterns('.git', 'data', 'work_dirs', 'checkpoints',
                                    'build', 'dist', '*.egg-info',
                                    '__pycache__', '.pytest_cache')

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import torch, torchvision
    import mixssl_mm
    from mixssl_mm.converters.resnet import convert
    from mixssl_mm.datasets import MedMNIST
    from mixssl_mm.datasets.utils.fetch import (BLOODMNIST_MD5, FetchError,
                                                copy_from_src)
    from mixssl_mm.preflight import ConfigError, check_medmnist_md5
    from mixssl_mm.utils.hashing import file_hash

    out = dict(package=mixssl_mm.__file__)
    # the converter, writing under the working directory
    torch.save(torchvision.models.resnet18(weights=None).state_dict(),
               'resnet18.pth')
    out['meta'] = convert('resnet18.pth', 'checkpoints/resnet18_mm.pth')
    # a BloodMNIST-shaped file that is not the official one
    os.makedirs('downloads')
    images = np.zeros((8, 28, 28, 3), np.uint8)
    np.savez('downloads/bloodmnist.npz', train_images=images,
             train_labels=np.zeros((8, 1), np.uint8))
    try:
        copy_from_src('downloads/bloodmnist.npz')
    except FetchError as e:
        out['fetch_refused'] = str(e)
    # the pre-flight's md5 table is the fetch module's
    dataset = MedMNIST(data_root='downloads', ann_file='bloodmnist.npz',
                       split='train', pipeline=[])
    try:
        check_medmnist_md5(dataset)
    except ConfigError as e:
        out['preflight_refused'] = str(e)
    # taken for official, it is copied to ./data/medmnist
    BLOODMNIST_MD5['bloodmnist.npz'] = file_hash('downloads/bloodmnist.npz')
    out['fetched'] = copy_from_src('downloads/bloodmnist.npz')
    print(json.dumps(out))
''')


def _run(args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    return subprocess.run(args, cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A fresh venv with mixssl_mm installed from a copy of the checkout;
    returns ``(venv dir, its python)``."""
    tmp = tmp_path_factory.mktemp('install')
    src = tmp / 'src'
    shutil.copytree(REPO, src, ignore=NOT_COPIED)
    env_dir = tmp / 'venv'
    # without its own pip/setuptools: the current ones (seen through the
    # system site-packages) build and install, so nothing is downloaded
    out = _run([sys.executable, '-m', 'venv', '--system-site-packages',
                '--without-pip', str(env_dir)], tmp)
    assert out.returncode == 0, out.stderr[-3000:]
    python = str(env_dir / 'bin' / 'python')
    out = _run([python, '-m', 'pip', 'install', '--no-deps',
                '--no-build-isolation', '--no-index', '-q', str(src)], tmp)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    shutil.rmtree(src)  # the installed copy must not need its source
    return env_dir, python


def test_package_logic_runs_outside_the_checkout(venv, tmp_path):
    env_dir, python = venv
    work = tmp_path / 'elsewhere'
    work.mkdir()
    out = _run([python, '-c', SCRIPT], work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    # the venv's copy, not this checkout's editable install
    assert found['package'].startswith(str(env_dir))
    assert not found['package'].startswith(REPO)
    assert found['meta']['arch'] == 'ResNet-18'
    assert (work / 'checkpoints' / 'resnet18_mm.pth').is_file()
    assert 'is not an official BloodMNIST file' in found['fetch_refused']
    assert 'is not the official bloodmnist.npz' in found['preflight_refused']
    assert '7053d0359d879ad8a5505303e11de1dc' in found['preflight_refused']
    assert found['fetched'] == str(work / 'data' / 'medmnist' /
                                   'bloodmnist.npz')


def test_python_m_train_runs_the_preflight_outside_the_checkout(
        venv, tmp_path):
    _, python = venv
    ckpt = tmp_path / 'resnet18_mm.pth'
    out = _run([python, '-c',
                'import torch, torchvision; '
                'from mixssl_mm.converters import convert; '
                'torch.save(torchvision.models.resnet18().state_dict(), '
                f'"r18.pth"); convert("r18.pth", "{ckpt}")'], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    target = write_image_folder(tmp_path / 'target', 8)
    cfg = tmp_path / 'finetune.py'
    cfg.write_text(classifier_config(target, ckpt, tiny=False))
    train = [python, '-m', 'mixssl_mm.apis.train', str(cfg), '--work-dir',
             str(tmp_path / 'work')]
    out = _run(train, tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    # the work-dir pre-flight: the same command again is refused
    out = _run(train, tmp_path)
    assert out.returncode != 0
    assert 'already holds checkpoints of an earlier run' in out.stderr
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
