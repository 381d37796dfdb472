"""torchvision ResNets with random weights and random BatchNorm statistics,
and the check that a converted mmpretrain ResNet computes what they compute
(for the converter tests)."""
import torch
import torchvision


def torchvision_resnet(depth: int, seed: int = 0):
    """A torchvision ResNet with random weights *and* random BN statistics,
    so that a swapped or missed buffer changes the output."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.num_batches_tracked.fill_(7)
    return net.eval()


def mm_resnet(depth: int, path):
    """mmpretrain's ResNet with the converted checkpoint loaded strictly."""
    from mmpretrain.models import ResNet
    state = torch.load(path)['state_dict']  # weights_only=True by default
    assert all(k.startswith('backbone.') for k in state)
    net = ResNet(depth=depth)
    net.load_state_dict({k[9:]: v for k, v in state.items()}, strict=True)
    net.eval()  # mmpretrain's ResNet.train() returns None
    return net


def assert_same_features(tv_net, mm_net, size: int = 64) -> None:
    """Pooled features of both networks on the same input agree."""
    tv_net.fc = torch.nn.Identity()  # pooled features
    x = torch.randn(
        2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = tv_net(x)
        out = mm_net(x)[-1].mean(dim=(2, 3))  # + global average pooling
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
