"""mixssl_mm.compat's cpu-amp and cpu-sync-bn fixes (applied by
tests/conftest.py): bf16 AmpOptimWrapper and sync_bn='torch' on a CPU-only
machine (the 2-process SyncBN run is in
tests/test_distributed/test_sync_bn.py)."""
import mmengine.runner.runner as mrr
import pytest
import torch
import torch.distributed as dist
from mmengine.optim import AmpOptimWrapper

from mixssl_mm.compat import CPUSyncBatchNorm

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the fallbacks act only without CUDA')


def _wrapper(**kwargs):
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, AmpOptimWrapper(optimizer=opt, **kwargs)


@pytest.mark.parametrize('dtype', ['bfloat16', None])
def test_amp_optim_wrapper_trains_in_bf16_on_cpu(dtype):
    model, wrapper = _wrapper(dtype=dtype, loss_scale='dynamic')
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        out = model(torch.randn(8, 4))
    assert out.dtype == torch.bfloat16  # autocast ran on the CPU
    wrapper.update_params(out.float().pow(2).mean())
    assert all(not torch.equal(a, b)
               for a, b in zip(before, model.parameters()))
    # bf16 needs no loss scaling: the scaler is off and saves nothing
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}
    _, again = _wrapper(dtype=dtype)
    again.load_state_dict(state)


def test_amp_optim_wrapper_still_refuses_fp16_on_cpu():
    with pytest.raises(AssertionError, match='only available'):
        _wrapper(dtype='float16')


@pytest.fixture
def one_rank_group(tmp_path):
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_sync_bn_conversion_gives_cpu_sync_bn():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4),
        torch.nn.BatchNorm1d(4))
    model = mrr.convert_sync_batchnorm(model, 'torch')
    assert [type(m) for m in model][1:] == [CPUSyncBatchNorm] * 2
    # DDP refuses any SyncBatchNorm subclass in a CPU module
    assert not isinstance(model[1], torch.nn.SyncBatchNorm)
    assert model[1].process_group is None


@pytest.mark.parametrize('shape', [(6, 4, 5, 3), (6, 4)])
def test_cpu_sync_bn_is_batch_norm_on_one_rank(one_rank_group, shape):
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(4) if len(shape) == 4 else \
        torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    sync = mrr.convert_sync_batchnorm(
        torch.nn.Sequential(bn.__class__(4)), 'torch')[0]
    sync.load_state_dict(bn.state_dict())
    x = torch.randn(*shape) * 3 + 1
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    for _ in range(2):  # running statistics over two updates
        ya, yb = bn(xa), sync(xb)
    torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-5)
    grad = torch.randn(*shape)
    ya.backward(grad)
    yb.backward(grad)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sync.weight.grad, bn.weight.grad)
    torch.testing.assert_close(sync.bias.grad, bn.bias.grad)
    for key in ('running_mean', 'running_var', 'num_batches_tracked'):
        torch.testing.assert_close(getattr(sync, key), getattr(bn, key))
    sync.eval(), bn.eval()
    torch.testing.assert_close(sync(x), bn(x))


def test_cpu_sync_bn_keeps_the_input_dtype(one_rank_group):
    sync = mrr.convert_sync_batchnorm(
        torch.nn.Sequential(torch.nn.BatchNorm2d(3)), 'torch')[0]
    out = sync(torch.randn(4, 3, 2, 2, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert sync.running_mean.dtype == torch.float32
