"""DINOHead: temperatures, centering and its update, by hand."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def test_dino_head_temperatures_by_hand():
    head = MODELS.build(
        dict(
            type='DINOHead',
            out_channels=2,
            student_temp=0.25,
            teacher_temp=0.5))
    # teacher: softmax([1, 0] / 0.5) = [e², 1] / (e² + 1)
    p = torch.tensor([[math.e**2, 1.]]) / (math.e**2 + 1)
    torch.testing.assert_close(head.teacher_probs(torch.tensor([[1., 0.]])), p)
    t = [torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]])]
    s = [
        torch.tensor([[0., 0.]]),
        torch.tensor([[0.5, 0.]]),
        torch.tensor([[0., 0.25]])
    ]

    def ce(target, student):  # −Σ P_t · log softmax(s / 0.25)
        z = [v / 0.25 for v in student]
        lse = math.log(sum(math.exp(v) for v in z))
        return -sum(pt * (zk - lse) for pt, zk in zip(target, z))

    pt0 = [math.e**2 / (math.e**2 + 1), 1 / (math.e**2 + 1)]
    pt1 = pt0[::-1]
    # pairs (teacher crop, student crop): (0,1) (0,2) (1,0) (1,2)
    expected = (ce(pt0, [0.5, 0.]) + ce(pt0, [0., 0.25]) + ce(pt1, [0., 0.]) +
                ce(pt1, [0., 0.25])) / 4
    torch.testing.assert_close(head.loss(s, t), torch.tensor(expected))


def test_dino_head_uses_its_teacher_temp_attribute():
    """The warm-up hook changes τ_t through this attribute."""
    head = MODELS.build(
        dict(type='DINOHead', out_channels=2, teacher_temp=0.5))
    t = torch.tensor([[1., 0.]])
    head.teacher_temp = 0.25
    torch.testing.assert_close(head.teacher_probs(t), F.softmax(t / 0.25, 1))
    torch.testing.assert_close(
        head.teacher_probs(t, teacher_temp=1.0), F.softmax(t, 1))


def test_dino_head_centering_update_and_use():
    head = MODELS.build(
        dict(
            type='DINOHead',
            out_channels=2,
            student_temp=0.1,
            teacher_temp=1.0,
            center_momentum=0.9))
    s = [torch.zeros(2, 2)] * 3
    t1 = [
        torch.tensor([[1., 0.], [3., 2.]]),
        torch.tensor([[0., 0.], [4., 2.]])
    ]
    head.loss(s, t1)
    # mean over both global crops' 4 rows = [2, 1]; c = 0.9·0 + 0.1·[2, 1]
    c1 = torch.tensor([[0.2, 0.1]])
    torch.testing.assert_close(head.center, c1)
    # the next loss sharpens with the centre from before its own update
    t2 = [torch.tensor([[1., 1.]]), torch.tensor([[2., 0.]])]
    s2 = [torch.zeros(1, 2)] * 2
    probs = [F.softmax(t - c1, dim=-1) for t in t2]
    # student crops are uniform: CE = −Σ p·log(1/2) = log 2, whatever p is;
    # so check the targets directly
    torch.testing.assert_close(head.teacher_probs(t2[0]), probs[0])
    torch.testing.assert_close(head.loss(s2, t2), torch.tensor(math.log(2)))
    c2 = 0.9 * c1 + 0.1 * torch.tensor([[1.5, 0.5]])
    torch.testing.assert_close(head.center, c2)


def test_dino_head_refuses_bad_arguments():
    with pytest.raises(ValueError, match='teacher_temp'):
        MODELS.build(dict(type='DINOHead', out_channels=2, teacher_temp=0))
    with pytest.raises(ValueError, match='center_momentum'):
        MODELS.build(
            dict(type='DINOHead', out_channels=2, center_momentum=1.5))
    head = MODELS.build(dict(type='DINOHead', out_channels=2))
    with pytest.raises(ValueError, match='at least 2 student crops'):
        head.loss([torch.zeros(1, 2)], [torch.zeros(1, 2)])
