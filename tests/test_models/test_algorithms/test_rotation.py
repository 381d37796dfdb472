"""Rotation: exact rot90 batches with their labels, and the CE loss."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from tests._helpers.models import (RESNET18, backbone_grad, build_model,
                                   record_inputs, two_views)

pytestmark = pytest.mark.usefixtures('one_thread')

ROTATION = dict(
    type='Rotation',
    backbone=RESNET18,
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=4,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss')))


def test_rotation_images_are_exact_rot90_with_labels():
    rotation = MODELS.get('Rotation')
    # one 2x2 image [[a, b], [c, d]] = [[1, 2], [3, 4]]
    x = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    rotated, labels = rotation.rotate(x)
    by_hand = [
        [[1., 2.], [3., 4.]],  # 0°
        [[2., 4.], [1., 3.]],  # 90° counter-clockwise
        [[4., 3.], [2., 1.]],  # 180°
        [[3., 1.], [4., 2.]]
    ]  # 270°
    torch.testing.assert_close(
        rotated[:, 0], torch.tensor(by_hand), rtol=0, atol=0)
    assert labels.tolist() == [0, 1, 2, 3]

    x = torch.randn(3, 3, 8, 8)
    rotated, labels = rotation.rotate(x)
    assert labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for k in range(4):
        assert torch.equal(rotated[3 * k:3 * (k + 1)],
                           torch.rot90(x, k, dims=(2, 3)))


def test_rotation_loss_is_ce_on_the_rotated_batch_and_trains():
    model = build_model(ROTATION)
    x = two_views(n=2)[0]
    seen = record_inputs(model.backbone)
    scores = []
    model.head.register_forward_hook(lambda m, a, out: scores.append(out))
    losses = model.loss(x, None)
    expected_x, labels = model.rotate(x)
    assert torch.equal(seen[0], expected_x)
    assert scores[0].shape == (8, 4)
    torch.testing.assert_close(losses['loss'],
                               F.cross_entropy(scores[0], labels))
    acc = (scores[0].argmax(1) == labels).float().mean() * 100
    torch.testing.assert_close(losses['acc_rot'], acc)
    losses['loss'].backward()
    assert backbone_grad(model) > 0


def test_rotation_refuses_non_square_views_and_wrong_heads():
    with pytest.raises(ValueError, match='square'):
        build_model(ROTATION).loss(torch.randn(2, 3, 32, 48), None)
    with pytest.raises(ValueError, match='num_classes=4'):
        build_model(ROTATION, head=dict(num_classes=3))
