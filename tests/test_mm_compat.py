"""The stock-stack fixes of mixssl_mm.mm_compat, against the real stack."""
import io
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

from mixssl_mm import mm_compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')


def test_mmpretrain_bases_resolve_without_pkg_resources_in_a_fresh_process():
    # No mixssl_mm import: only the start-up hook installed by pip is active,
    # as when mmpretrain's own tools/train.py parses the config.
    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"
        'from mmengine.config import Config\n'
        f'cfg = Config.fromfile({CONFIG!r}, import_custom_modules=False)\n'
        "assert 'mixssl_mm' not in sys.modules\n"
        'print(cfg.default_scope, cfg.model.type)\n')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['mmpretrain', 'MixSSL']


def test_package_helpers():
    assert mm_compat.is_installed('mmpretrain')
    assert not mm_compat.is_installed('surely-not-a-package-xyz')
    import mmpretrain
    assert mm_compat.get_installed_path('mmpretrain') == osp.dirname(
        mmpretrain.__file__)
    assert mm_compat.package2module('mmcv-lite') == 'mmcv'


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
    with pytest.raises(pickle.UnpicklingError,
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
        pickle.dump({'x': _Gadget(HistoryBuffer, '__init__')}, f,
                    protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='refusing to load '
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
        save_checkpoint({'state_dict': {'w': torch.zeros(3)},
                         'bad': lambda: None}, str(path))
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
    pointer.write_text('/elsewhere/old_work_dir/iter_2.pth')  # dir moved
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path /
                                                          'iter_2.pth')
    pointer.write_text(str(tmp_path / 'iter_2.pth'))  # the normal case
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path /
                                                          'iter_2.pth')


def _run_pth_line(tmp_path, extra_path):
    # -I -S: no site-packages and no cwd on sys.path, as if mixssl_mm were
    # uninstalled or moved while its .pth stayed behind
    code = ('import sys; sys.path[:0] = %r; '
            'exec(open(%r).read()); '
            "print('mixssl_mm_startup' in sys.modules)") % (
                extra_path, osp.join(REPO, 'mixssl_mm_startup.pth'))
    return subprocess.run([sys.executable, '-I', '-S', '-c', code],
                          cwd=tmp_path, capture_output=True, text=True)


def test_startup_pth_is_silent_when_the_plugin_is_gone(tmp_path):
    proc = _run_pth_line(tmp_path, [])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'False'
    assert proc.stderr == ''


def test_startup_pth_installs_the_hook_when_present(tmp_path):
    proc = _run_pth_line(tmp_path, [REPO])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'True'


def test_mmcv_lite_attention_warning_is_filtered_and_only_it(tmp_path):
    """Every start printed mmcv-lite's 'Fail to import
    MultiScaleDeformableAttention' warning (an op nothing here uses). The
    start-up hook filters it before mmpretrain's models are imported, and
    so does importing the plugin (a checkout without the hook); any other
    warning still shows (-W always)."""
    code = '\n'.join([
        'import warnings',
        # the start-up hook's filter is in place before anything is imported
        'assert any("MultiScaleDeformableAttention" in f[1].pattern',
        '           for f in warnings.filters if f[1] is not None)',
        'warnings.resetwarnings()',  # as if no start-up hook had run
        'warnings.simplefilter("always")',
        'import mixssl_mm',  # imports mmcv's transformer module: it warns
        'warnings.warn("other warnings still show")',
    ])
    proc = subprocess.run([sys.executable, '-W', 'always', '-c', code],
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'MultiScaleDeformableAttention' not in proc.stderr
    assert 'other warnings still show' in proc.stderr
