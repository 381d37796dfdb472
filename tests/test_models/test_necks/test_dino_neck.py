"""DINONeck: the weight-normalised last layer, by hand."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS


def test_dino_neck_weight_normalised_last_layer_by_hand():
    neck = MODELS.build(
        dict(
            type='DINONeck',
            in_channels=2,
            out_channels=3,
            bottleneck_channels=2,
            num_layers=1,
            with_avg_pool=False))
    with torch.no_grad():
        neck.mlp[0].weight.copy_(torch.eye(2))
        neck.mlp[0].bias.zero_()
        neck.last_layer.weight.copy_(
            torch.tensor([[2., 0.], [0., 3.], [1., 1.]]))
    # x/‖x‖ = [0.6, 0.8]; rows of V/‖V‖ = [1,0], [0,1], [1,1]/√2
    out = neck((torch.tensor([[3., 4.]]), ))[0]
    torch.testing.assert_close(out,
                               torch.tensor([[0.6, 0.8, 1.4 / math.sqrt(2)]]))
    assert not any('last_layer_g' in n for n, _ in neck.named_parameters())
    assert neck.last_layer_parameters() == [neck.last_layer.weight]


def test_dino_neck_learnable_g_scales_each_prototype():
    neck = MODELS.build(
        dict(
            type='DINONeck',
            in_channels=2,
            out_channels=2,
            bottleneck_channels=2,
            num_layers=1,
            with_avg_pool=False,
            norm_last_layer=False))
    with torch.no_grad():
        neck.mlp[0].weight.copy_(torch.eye(2))
        neck.mlp[0].bias.zero_()
        neck.last_layer.weight.copy_(torch.tensor([[5., 0.], [0., 1.]]))
        neck.last_layer_g.copy_(torch.tensor([[2.], [0.5]]))
    out = neck(torch.tensor([[3., 4.]]))[0]  # a tensor works as well
    torch.testing.assert_close(out, torch.tensor([[1.2, 0.4]]))
    assert neck.last_layer_parameters() == [
        neck.last_layer.weight, neck.last_layer_g
    ]


def test_dino_neck_pools_feature_maps_and_refuses_no_layers():
    neck = MODELS.build(
        dict(
            type='DINONeck',
            in_channels=4,
            out_channels=5,
            hid_channels=6,
            bottleneck_channels=3))
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(neck((x, ))[0], neck(x.mean(dim=(2, 3)))[0])
    with pytest.raises(ValueError, match='num_layers'):
        MODELS.build(dict(type='DINONeck', in_channels=4, num_layers=0))
