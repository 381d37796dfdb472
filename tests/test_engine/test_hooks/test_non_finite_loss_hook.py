"""NonFiniteLossHook in a real mmengine Runner (tests/_helpers/
toy_runner.py): non-finite weights are never written to a checkpoint."""
import pytest
import torch

from mixssl_mm.engine.hooks import NonFiniteLossError, NonFiniteLossHook
from tests._helpers.toy_runner import make_runner


def test_non_finite_weights_are_never_written(tmp_path):
    runner = make_runner(tmp_path, hooks=[NonFiniteLossHook()], max_epochs=1)
    runner.train()
    with torch.no_grad():
        runner.model.lin.weight[0, 0] = float('inf')
    with pytest.raises(
            NonFiniteLossError,
            match=r"non-finite weights \(1 "
            r"tensors, e.g. \['lin.weight'\]\)(?s:.*)iter_4.pth"):
        runner.save_checkpoint(str(tmp_path), 'bad.pth')
    assert not (tmp_path / 'bad.pth').exists()


def test_a_non_finite_loss_is_reported_without_torch_warnings(tmp_path):
    """train_step's losses still carry their graph; reading them must not
    make torch warn 'Converting a tensor with requires_grad=True to a
    scalar'."""
    import warnings
    runner = make_runner(tmp_path, hooks=[NonFiniteLossHook()], max_epochs=1)
    weight = torch.ones(2, requires_grad=True)
    losses = dict(
        loss=(weight * float('nan')).sum(),
        loss_rec=(weight * float('inf')).mean())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with pytest.raises(
                NonFiniteLossError,
                match=r'non-finite loss \(loss=nan, '
                r'loss_rec=inf\) at iteration 1'):
            NonFiniteLossHook().after_train_iter(runner, 0, outputs=losses)
    assert not caught, [str(w.message) for w in caught]
