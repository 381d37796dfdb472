"""DINOLastLayerFreezeHook in a real mmengine Runner (tiny DINO on CPU,
tests/_helpers/dino_runner.py): the last layer stays bit-unchanged while
frozen, whatever the optimizer's momentum and weight decay, and trains
afterwards; the rest of the model trains throughout. (Two processes under
DDP: the DINO config in tests/test_distributed/test_launch_matrix.py.)"""
import pytest
import torch

from mixssl_mm.engine.hooks import DINOLastLayerFreezeHook
from mixssl_mm.engine.hooks.dino_hook_utils import length_in_iters
from tests._helpers.dino_runner import RecordEachIter, tiny_dino_runner
from tests._helpers.toy_runner import make_runner
from tests.conftest import write_image_folder

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    # 8 images, batch 2: 4 iterations per epoch
    return write_image_folder(tmp_path_factory.mktemp('dino_images'), 8)


def snapshot(model, runner):
    opt = runner.optim_wrapper.optimizer
    last = model.neck.last_layer_parameters()
    return dict(
        last=[p.detach().clone() for p in last],
        mlp=model.neck.mlp[0].weight.detach().clone(),
        # optimizer state exists only for parameters it has updated
        last_state=[bool(opt.state.get(p)) for p in last])


@pytest.mark.parametrize('optimizer,norm_last_layer', [
    (dict(type='Adam', lr=1e-3, weight_decay=1e-4), True),
    (dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4), False),
])
def test_last_layer_bit_unchanged_while_frozen_then_trained(
        tmp_path, images, optimizer, norm_last_layer):
    probe = RecordEachIter(snapshot)
    hook = DINOLastLayerFreezeHook(freeze_ratio=0.5)  # 4 of 8 iterations
    runner = tiny_dino_runner(
        tmp_path,
        images, [hook, probe],
        optimizer=optimizer,
        norm_last_layer=norm_last_layer)
    runner.train()
    assert runner.iter == 8 and hook.freeze_iters == 4
    states = probe.values  # before training, then after iterations 1..8
    assert len(states[0]['last']) == (1 if norm_last_layer else 2)
    for it in range(1, 5):  # frozen: no update, no optimizer state
        for before, now in zip(states[0]['last'], states[it]['last']):
            assert torch.equal(now, before), it
        assert not any(states[it]['last_state'])
        # the rest of the network trains meanwhile
        assert not torch.equal(states[it]['mlp'], states[it - 1]['mlp'])
    for it in range(5, 9):  # trained from iteration 5 on
        for before, now in zip(states[it - 1]['last'], states[it]['last']):
            assert not torch.equal(now, before), it
        assert all(states[it]['last_state'])
    # the step pre-hooks are gone after training
    assert not runner.optim_wrapper.optimizer._optimizer_step_pre_hooks


def test_freeze_length_in_epochs_or_as_a_fraction(tmp_path, images):
    runner = tiny_dino_runner(tmp_path, images, max_epochs=5)
    assert runner.max_iters == 20 and len(runner.train_dataloader) == 4
    assert length_in_iters(runner, ratio=0.05, epochs=None) == 1
    assert length_in_iters(runner, ratio=0.1, epochs=None) == 2
    assert length_in_iters(runner, ratio=None, epochs=1) == 4
    assert length_in_iters(runner, ratio=None, epochs=0.5) == 2
    assert length_in_iters(runner, ratio=None, epochs=None) == 0
    # DINO's default: one epoch
    assert DINOLastLayerFreezeHook().freeze_epochs == 1
    # the shipped recipe: 5 % of 20 epochs x 186 iterations = 1 epoch
    assert int(0.05 * 20 * 186 + 0.5) == 186


def test_freeze_hook_refuses_bad_lengths_and_other_models(tmp_path):
    with pytest.raises(ValueError, match='freeze_ratio or freeze_epochs'):
        DINOLastLayerFreezeHook(freeze_ratio=0.1, freeze_epochs=1)
    with pytest.raises(ValueError, match=r'freeze_ratio .* in \[0, 1\]'):
        DINOLastLayerFreezeHook(freeze_ratio=2)
    with pytest.raises(ValueError, match='freeze_epochs must be >= 0'):
        DINOLastLayerFreezeHook(freeze_epochs=-1)
    runner = make_runner(tmp_path, hooks=[DINOLastLayerFreezeHook()])
    with pytest.raises(TypeError, match='neck is a DINONeck'):
        runner.train()
