"""The opt-in stack fixes of mixssl_mm.compat, against the real stack (the
suite applies them in tests/conftest.py, as the entry points do), and that
importing the plugin alone changes nothing in the stack."""
import io
import json
import os.path as osp
import pickle
import subprocess
import sys

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mixssl_mm import compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PURITY = osp.join(REPO, 'tests', '_helpers', 'import_purity.py')
CONFIG = osp.join(REPO, 'configs', 'mixssl',
                  'mixssl_resnet50_1xb64-20e_bloodmnist.py')


def _python(code, *args, cwd=REPO):
    return subprocess.run([sys.executable, '-c', code, *args],
                          capture_output=True,
                          text=True,
                          cwd=cwd,
                          timeout=300)


def purity(python=sys.executable, then=None, cwd=REPO, env=None):
    """``import_purity.py``'s verdict on ``import mixssl_mm`` in two fresh
    interpreters of ``python`` (the first lists the stack modules the import
    loads, the second pre-imports them and compares)."""

    def run(*args):
        out = subprocess.run([python, PURITY, *args],
                             capture_output=True,
                             text=True,
                             cwd=str(cwd),
                             env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    modules = run('--list')
    return run(*(['--then', then] if then else []), *modules)


def test_import_changes_no_attribute_of_the_stack():
    result = purity()
    assert result['changed'] == []
    assert result['modules'] > 500 and result['classes'] > 1000


def test_the_import_check_sees_what_the_fixes_change():
    # the same check, with the fixes applied after the import: it must see
    # them (else the test above would pass whatever the import did)
    changed = purity(then='from mixssl_mm.compat import apply_compat_fixes\n'
                     'apply_compat_fixes()')['changed']
    for name in ('mmengine.runner.checkpoint.save_checkpoint',
                 'mmcv.image.photometric.adjust_hue', 'safe_globals',
                 'mmengine.logging.history_buffer.HistoryBuffer.'
                 '__getstate__'):
        assert name in changed, changed


def test_mmpretrain_bases_need_the_fix_without_pkg_resources():
    # a fresh process: stock mmengine fails on an mmpretrain:: base without
    # pkg_resources; apply_compat_fixes() is what makes it work
    read = ("import sys; sys.modules['pkg_resources'] = None\n"
            '{apply}'
            'from mmengine.config import Config\n'
            f'cfg = Config.fromfile({CONFIG!r}, import_custom_modules=False)\n'
            'print(cfg.default_scope, cfg.model.type)\n')
    stock = _python(read.format(apply=''))
    assert stock.returncode != 0 and 'pkg_resources' in stock.stderr
    fixed = _python(
        read.format(apply='from mixssl_mm.compat import apply_compat_fixes\n'
                    'print(apply_compat_fixes())\n'))
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert fixed.stdout.split()[-2:] == ['mmpretrain', 'MixSSL']
    # each applied fix says which and why, once
    assert 'mixssl_mm.compat: pkg-resources (mmengine 0.10.7: setuptools' \
        in fixed.stdout + fixed.stderr


def test_fixes_are_gated_on_versions(monkeypatch):
    needed = dict(compat.needed_fixes())
    expected = {f.name for f in compat.FIXES}
    if torch.cuda.is_available():
        expected -= {'cpu-launcher', 'cpu-amp', 'cpu-sync-bn'}
    if not compat._no_pkg_resources():
        expected -= {'pkg-resources'}
    assert set(needed) == expected  # torch >= 2.6, numpy 2, mmengine 0.10.7
    assert needed['weights-only'].startswith('mmengine 0.10.7: torch ')
    versions = {
        'mmengine': (0, 11, 0),
        'torch': (2, 5, 1),
        'numpy': (1, 26, 4),
        'mmcv-lite': (2, 2, 0)
    }
    monkeypatch.setattr(compat, '_version',
                        lambda *d: versions.get(d[-1], versions.get(d[0])))
    # an mmengine newer than the one checked: its own code is used
    assert compat.needed_fixes() == []
    versions['mmengine'] = (0, 10, 7)
    names = {name for name, _ in compat.needed_fixes()}
    assert 'weights-only' not in names  # torch 2.5: not weights-only
    assert 'numpy2-adjust-hue' not in names  # numpy 1
    assert ('pkg-resources' in names) == compat._no_pkg_resources()


def test_package_helpers():
    assert compat.is_installed('mmpretrain')
    assert not compat.is_installed('surely-not-a-package-xyz')
    import mmpretrain
    assert compat.get_installed_path('mmpretrain') == osp.dirname(
        mmpretrain.__file__)
    assert compat.package2module('mmcv-lite') == 'mmcv'


def _message_hub_state():
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', 0.25)
    return hub.state_dict()


def test_new_checkpoints_need_no_getattr(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(message_hub=_message_hub_state()), path)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    assert 'builtins.getattr' not in unsafe
    loaded = torch.load(path)  # torch's default: weights_only=True
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == pytest.approx(0.375)
    assert buf.statistics('max') == 0.5


def test_stock_written_checkpoints_still_load(tmp_path, monkeypatch):
    # stock mmengine's __getstate__ adds the statistics methods, which
    # protocol 2 pickles as getattr(HistoryBuffer, 'min')
    monkeypatch.setattr(
        HistoryBuffer, '__getstate__', lambda self: dict(
            self.__dict__, statistics_methods=self._statistics_methods))
    path = tmp_path / 'stock.pth'
    torch.save(dict(message_hub=_message_hub_state()), path)
    monkeypatch.undo()
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:  # what stock torch sees in the file
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
            str(path))
    finally:
        torch.serialization.add_safe_globals(saved)
    assert 'builtins.getattr' in unsafe
    loaded = torch.load(path)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.25


class _Gadget:

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


@pytest.mark.parametrize('obj,name', [(HistoryBuffer, '__init__'),
                                      (int, 'mro'), (list, 'clear')])
def test_getattr_gadgets_are_refused(tmp_path, obj, name):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'x': _Gadget(obj, name)}, f, protocol=2)
    with pytest.raises(
            pickle.UnpicklingError,
            match='refusing getattr|not an allowed global'):
        torch.load(path)


def test_code_running_pickle_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'

    class Evil:

        def __reduce__(self):
            return eval, ('1 + 1', )

    buf = io.BytesIO()
    torch.save({'state_dict': {}, 'x': Evil()}, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(pickle.UnpicklingError, match='eval'):
        torch.load(path)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_negative_hue_shift_rotates_like_numpy1(backend):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 255  # BGR pure red: hue 0
    out = mmcv.adjust_hue(red, -0.2, backend=backend)
    hue = cv2.cvtColor(out, cv2.COLOR_BGR2HSV_FULL)[..., 0]
    # numpy 1 wrapped np.uint8(-51) to 205
    assert np.abs(hue.astype(int) - 205).max() <= 2
    pos = mmcv.adjust_hue(red, 0.2, backend=backend)
    hue = cv2.cvtColor(pos, cv2.COLOR_BGR2HSV_FULL)[..., 0]
    assert np.abs(hue.astype(int) - 51).max() <= 2


# -- 5. a short refusal naming the file; 6. atomic saves, stale pointers ------
def test_refused_checkpoint_is_named_in_a_short_message(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    class Evil:

        def __reduce__(self):
            return eval, ('1 + 1', )

    path = tmp_path / 'crafted.pth'
    torch.save({'state_dict': {}, 'x': Evil()}, path)
    # the path every mmengine load takes (--resume, load_from, Pretrained)
    with pytest.raises(pickle.UnpicklingError) as info:
        _load_checkpoint(str(path), map_location='cpu')
    msg = str(info.value)
    assert msg.startswith(f'refusing to load checkpoint {path}: it needs '
                          '`eval`')
    assert 'Trust model for checkpoints' in msg and len(msg) < 700
    # a gadget refused by the getattr stand-in is reported the same way
    with open(path, 'wb') as f:
        pickle.dump({'x': _Gadget(HistoryBuffer, '__init__')}, f, protocol=2)
    with pytest.raises(
            pickle.UnpicklingError,
            match='refusing to load '
            r'checkpoint .*refusing getattr\(.*__init__'):
        _load_checkpoint(str(path), map_location='cpu')


def test_checkpoint_save_is_atomic_and_cleans_stale_parts(tmp_path):
    from mmengine.runner import save_checkpoint
    path = tmp_path / 'iter_1.pth'
    stale = tmp_path / '.iter_1.pth.part-12345'  # left by a killed save
    stale.write_bytes(b'half a checkpoint')
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']
    # a save that fails half-way leaves the previous file as it was
    with pytest.raises(Exception):
        save_checkpoint(
            {
                'state_dict': {
                    'w': torch.zeros(3)
                },
                'bad': lambda: None
            }, str(path))
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']


def test_resume_survives_a_missing_empty_or_stale_pointer(tmp_path):
    import os
    import time

    from mmengine.runner import find_latest_checkpoint
    assert find_latest_checkpoint(str(tmp_path)) is None
    for name in ('iter_2.pth', 'iter_3.pth', 'params_rank0.pth'):
        torch.save({}, tmp_path / name)
        time.sleep(0.01)
    os.utime(tmp_path / 'params_rank0.pth')  # newest, but not a checkpoint
    newest = str(tmp_path / 'iter_3.pth')
    assert find_latest_checkpoint(str(tmp_path)) == newest  # no pointer
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text('')  # killed while writing it
    assert find_latest_checkpoint(str(tmp_path)) == newest
    pointer.write_text(str(tmp_path / 'iter_4.pth'))  # removed since
    assert find_latest_checkpoint(str(tmp_path)) == newest
    oldest = str(tmp_path / 'iter_2.pth')
    pointer.write_text('/elsewhere/old_work_dir/iter_2.pth')  # dir moved
    assert find_latest_checkpoint(str(tmp_path)) == oldest
    pointer.write_text(oldest)  # the normal case
    assert find_latest_checkpoint(str(tmp_path)) == oldest


def test_mmcv_lite_attention_warning_is_hidden_during_the_plugin_import():
    """mmcv-lite warns 'Fail to import MultiScaleDeformableAttention' when
    mmpretrain's models are imported (an op nothing here uses). The plugin's
    import hides exactly that warning and leaves the caller's filters as
    they were; importing mmpretrain's models first still shows it, and so
    does every other warning."""

    def run(code):
        out = subprocess.run([sys.executable, '-W', 'always', '-c', code],
                             cwd=REPO,
                             text=True,
                             capture_output=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout + out.stderr

    # the control: mmcv-lite does warn on this install
    assert 'MultiScaleDeformableAttention' in run('import mmpretrain.models')
    out = run('import warnings; before = list(warnings.filters); '
              'import mixssl_mm; assert warnings.filters == before; '
              "warnings.warn('another warning')")
    assert 'MultiScaleDeformableAttention' not in out
    assert 'UserWarning: another warning' in out
    tool = subprocess.run([
        sys.executable, '-W', 'always',
        osp.join(REPO, 'tools', 'train.py'), '-h'
    ],
                          cwd=REPO,
                          text=True,
                          capture_output=True,
                          timeout=120)
    assert tool.returncode == 0, tool.stderr[-2000:]
    assert 'MultiScaleDeformableAttention' not in tool.stdout + tool.stderr
    assert 'mixssl_mm.compat' not in tool.stdout  # -h prints only help
