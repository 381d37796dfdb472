"""DINO: the EMA teacher, multi-crop routing and gradients (the neck and
head are tested in test_necks/ and test_heads/, the last-layer freeze and the
teacher-temperature warm-up in tests/test_engine/test_hooks/)."""
import math

import pytest
import torch
from mmengine.logging import MessageHub

from tests._helpers.models import (RESNET18, backbone_grad, build_model,
                                   record_inputs)

pytestmark = pytest.mark.usefixtures('one_thread')

DINO = dict(
    type='DINO',
    backbone=RESNET18,
    neck=dict(
        type='DINONeck',
        in_channels=512,
        out_channels=8,
        hid_channels=16,
        bottleneck_channels=4),
    head=dict(type='DINOHead', out_channels=8))


@pytest.fixture
def hub(request):
    """A fresh current MessageHub with ``max_iters`` (which mmpretrain's
    CosineEMA reads, as in a Runner); a blank one is made current again
    afterwards."""
    name = f'test_dino_{request.node.name}'
    hub = MessageHub.get_instance(name)
    hub.update_info('max_iters', 10)
    yield hub
    MessageHub.get_instance(name + '_done')


def crops(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(n, 3, 32, 32, generator=g) for _ in range(2)] +
            [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)])


def test_dino_teacher_ema_equals_the_momentum_formula(hub):
    model = build_model(DINO, base_momentum=0.1, end_momentum=0.)
    x = crops()
    model.loss(x, None)  # first update: the teacher copies the student
    student = dict(
        torch.nn.Sequential(model.backbone, model.neck).named_parameters())
    teacher = dict(model.teacher.module.named_parameters())
    assert student.keys() == teacher.keys()
    for k in student:
        assert torch.equal(teacher[k], student[k])
    old = {k: v.detach().clone() for k, v in teacher.items()}
    with torch.no_grad():
        for p in student.values():
            p.add_(0.5)
    model.loss(x, None)
    # CosineEMA at step 1 of 10: m = 0 − (0 − 0.1)·(cos(π/10) + 1)/2
    m = 0.1 * (math.cos(math.pi / 10) + 1) / 2
    for k in ('0.conv1.weight', '1.mlp.0.weight', '1.last_layer.weight'):
        torch.testing.assert_close(teacher[k],
                                   (1 - m) * old[k] + m * student[k].detach())


def test_dino_multicrop_routing_and_gradients(hub):
    model = build_model(DINO)
    t_seen = record_inputs(model.teacher.module[0])
    s_seen = record_inputs(model.backbone)
    x = crops(n=2)
    losses = model.loss(x, None)
    # the teacher sees the two global crops only, in one batch
    assert [tuple(a.shape) for a in t_seen] == [(4, 3, 32, 32)]
    assert torch.equal(t_seen[0], torch.cat(x[:2]))
    # the student sees every crop, one batch per crop size
    assert [tuple(a.shape) for a in s_seen] == [(4, 3, 32, 32), (4, 3, 16, 16)]
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert backbone_grad(model) > 0
    # every student parameter gets a gradient (what DDP requires): the last
    # layer too, whose freeze is a hook acting after the backward pass
    for name, p in model.named_parameters():
        if not name.startswith('teacher.'):
            assert p.grad is not None, name
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.head.center.abs().sum() > 0


def test_dino_refuses_bad_inputs_and_mismatched_heads(hub):
    with pytest.raises(ValueError, match='prototypes'):
        build_model(DINO, head=dict(out_channels=4))
    with pytest.raises(ValueError, match='num_global_crops'):
        build_model(DINO, num_global_crops=0)
    with pytest.raises(TypeError, match='global crops'):
        build_model(DINO).loss(crops()[:2], None)
