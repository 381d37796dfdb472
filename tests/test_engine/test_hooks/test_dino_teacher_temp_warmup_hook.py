"""DINOTeacherTempWarmupHook in a real mmengine Runner (tiny DINO on CPU,
tests/_helpers/dino_runner.py): τ_t ramps linearly per iteration from
``warmup_teacher_temp`` to the head's ``teacher_temp``."""
import pytest

from mixssl_mm.engine.hooks import DINOTeacherTempWarmupHook
from tests._helpers.dino_runner import RecordEachIter, tiny_dino_runner
from tests._helpers.toy_runner import make_runner
from tests.conftest import write_image_folder

pytestmark = pytest.mark.usefixtures('one_thread')


def teacher_temp(model, runner):
    return model.head.teacher_temp


@pytest.mark.parametrize(
    'length,temps',
    [
        # 8 iterations; the head's teacher_temp is 0.04 (DINOHead's default)
        (dict(warmup_ratio=0.5),
         [0.02, 0.025, 0.03, 0.035, 0.04, 0.04, 0.04, 0.04]),
        (dict(warmup_epochs=1),
         [0.02, 0.025, 0.03, 0.035, 0.04, 0.04, 0.04, 0.04]),
        (dict(), [0.04] * 8),  # no length: no warm-up
    ])
def test_teacher_temp_ramps_per_iteration(tmp_path, length, temps):
    images = write_image_folder(tmp_path / 'images', 8)
    probe = RecordEachIter(teacher_temp)
    hook = DINOTeacherTempWarmupHook(warmup_teacher_temp=0.02, **length)
    runner = tiny_dino_runner(tmp_path / 'work', images, [hook, probe])
    runner.train()
    # values[0]: before training (the configured τ); then the τ_t that
    # iterations 0..7 used
    assert probe.values[0] == 0.04
    assert probe.values[1:] == pytest.approx(temps, abs=1e-12)
    assert hook.temp_at(0) == (0.02 if length else 0.04)


def test_warmup_hook_refuses_bad_arguments_and_other_models(tmp_path):
    with pytest.raises(ValueError, match='warmup_teacher_temp must be > 0'):
        DINOTeacherTempWarmupHook(warmup_teacher_temp=0)
    with pytest.raises(ValueError, match='warmup_ratio or warmup_epochs'):
        DINOTeacherTempWarmupHook(0.04, warmup_ratio=0.1, warmup_epochs=1)
    with pytest.raises(ValueError, match=r'warmup_ratio .* in \[0, 1\]'):
        DINOTeacherTempWarmupHook(0.04, warmup_ratio=-0.1)
    runner = make_runner(tmp_path, hooks=[DINOTeacherTempWarmupHook(0.02)])
    with pytest.raises(TypeError, match='head is a DINOHead'):
        runner.train()
