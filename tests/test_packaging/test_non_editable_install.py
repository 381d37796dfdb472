"""A non-editable install of the wheel into a fresh venv, used from a
directory outside the checkout: the package must not need the repository,
must ship no ``.pth`` (nothing of this project runs at interpreter start),
and importing it must change nothing in the stack.

The wheel is built by the running interpreter's own pip and setuptools
(``--no-deps --no-build-isolation``: nothing is downloaded) from a copy of
the checkout. The venv gets the running interpreter's packages (torch,
mmpretrain, pip, ...) through one ``.pth`` *path* line listing this
interpreter's site-packages folders: a path line only extends ``sys.path``
(the ``.pth`` files inside those folders, e.g. an editable install's finder,
do not run), and it comes after the venv's own site-packages, so the wheel's
copy is what ``import mixssl_mm`` finds. That works the same whether the
tests run from a venv (``--system-site-packages`` would see the *base*
interpreter instead) or from the system interpreter. From an empty folder
the installed copy then converts a ResNet, fetches BloodMNIST from a local
file, runs the pre-flight md5 check and trains through
``python -m mixssl_mm.apis.train`` (pre-flight included).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tests._helpers.training import REPO, classifier_config
from tests.conftest import write_image_folder

# what a source distribution would not carry either
NOT_COPIED = shutil.ignore_patterns('.git', '.venv', 'data', 'work_dirs',
                                    'checkpoints', 'build', 'dist',
                                    '*.egg-info', '__pycache__',
                                    '.pytest_cache')

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
    return subprocess.run(
        args,
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)


def _site_dirs():
    """This interpreter's site-packages folders (a venv's may lie inside the
    checkout, as the README's ``.venv`` does; the checkout itself, which
    conftest and PYTHONPATH put on sys.path, is not one)."""
    return [
        p for p in sys.path
        if osp.basename(p) in ('site-packages',
                               'dist-packages') and osp.isdir(p)
    ]


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A fresh venv with mixssl_mm's wheel installed, built from a copy of
    the checkout; returns ``(venv dir, its python, the wheel)``."""
    tmp = tmp_path_factory.mktemp('install')
    src = tmp / 'src'
    shutil.copytree(REPO, src, ignore=NOT_COPIED)
    out = _run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '--no-index', '-q', '-w',
        str(tmp / 'wheels'),
        str(src)
    ], tmp)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (wheel, ) = (tmp / 'wheels').glob('mixssl_mm-*.whl')
    shutil.rmtree(src)  # the installed copy must not need its source
    env_dir = tmp / 'venv'
    out = _run([sys.executable, '-m', 'venv', '--without-pip',
                str(env_dir)], tmp)
    assert out.returncode == 0, out.stderr[-3000:]
    python = str(env_dir / 'bin' / 'python')
    site = _run([
        python, '-c', 'import sysconfig; '
        "print(sysconfig.get_path('purelib'))"
    ], tmp).stdout.strip()
    with open(osp.join(site, '_running_interpreter.pth'), 'w') as f:
        f.write('\n'.join(_site_dirs()) + '\n')
    out = _run([
        python, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
        str(wheel)
    ], tmp)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return env_dir, python, wheel


def test_the_wheel_ships_no_pth_and_no_top_level_module(venv):
    env_dir, python, wheel = venv
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (meta, ) = [n for n in names if n.endswith('.dist-info/METADATA')]
        metadata = whl.read(meta).decode()
    assert not [n for n in names if n.endswith('.pth')]
    assert {n.split('/')[0]
            for n in names} == {'mixssl_mm',
                                osp.basename(meta.split('/')[0])}
    # static metadata: neither mmcv nor mmcv-lite unless asked for
    requires = [
        line for line in metadata.splitlines()
        if line.startswith('Requires-Dist: mmcv')
    ]
    assert requires == [
        'Requires-Dist: mmcv-lite<2.3.0,>=2.0.0; extra == "mmcv-lite"'
    ]
    site = _run([
        python, '-c', 'import sysconfig; '
        "print(sysconfig.get_path('purelib'))"
    ], env_dir).stdout
    pths = [n for n in os.listdir(site.strip()) if n.endswith('.pth')]
    assert pths == ['_running_interpreter.pth']  # the test's path line only


def test_importing_the_installed_package_changes_nothing(venv, tmp_path):
    from tests.test_compat import purity
    _, python, _ = venv
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = purity(python, cwd=tmp_path, env=env)
    assert result['changed'] == [] and result['modules'] > 500


def test_package_logic_runs_outside_the_checkout(venv, tmp_path):
    env_dir, python, _ = venv
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
    _, python, _ = venv
    ckpt = tmp_path / 'resnet18_mm.pth'
    out = _run([
        python, '-c', 'import torch, torchvision; '
        'from mixssl_mm.converters import convert; '
        'torch.save(torchvision.models.resnet18().state_dict(), '
        f'"r18.pth"); convert("r18.pth", "{ckpt}")'
    ], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    target = write_image_folder(tmp_path / 'target', 8)
    cfg = tmp_path / 'finetune.py'
    cfg.write_text(classifier_config(target, ckpt, tiny=False))
    train = [
        python, '-m', 'mixssl_mm.apis.train',
        str(cfg), '--work-dir',
        str(tmp_path / 'work')
    ]
    out = _run(train, tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    # the work-dir pre-flight: the same command again is refused
    out = _run(train, tmp_path)
    assert out.returncode != 0
    assert 'already holds checkpoints of an earlier run' in out.stderr
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')


def test_the_wheel_ships_the_configs_for_mixssl_mm_bases(venv, tmp_path):
    """``_base_ = ['mixssl_mm::...']`` reads the configs the wheel ships
    under ``mixssl_mm/.mim`` (as mmpretrain's), outside the checkout."""
    env_dir, python, wheel = venv
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    assert 'mixssl_mm/.mim/model-index.yml' in names
    assert ('mixssl_mm/.mim/configs/mixssl/'
            'mixssl_resnet50_1xb64-20e_bloodmnist.py') in names
    assert 'mixssl_mm/.mim/configs/simclr/metafile.yml' in names
    (tmp_path / 'my_mixssl.py').write_text(
        "_base_ = ['mixssl_mm::mixssl/mixssl_resnet50_1xb64-20e_"
        "bloodmnist.py']\nmodel = dict(backbone=dict(depth=18))\n")
    out = _run([
        python, '-c', 'from mixssl_mm.compat import apply_compat_fixes\n'
        'apply_compat_fixes()\n'
        'from mmengine.config import Config\n'
        "cfg = Config.fromfile('my_mixssl.py')\n"
        'print(cfg.model.type, cfg.model.backbone.depth)'
    ], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == 'MixSSL 18'
