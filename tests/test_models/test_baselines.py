"""The paper's other baselines: Rotation, MixupSimCLR, MixCo and DINO (with
DINONeck / DINOHead), each checked against small hand-computed examples."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

from mixssl_mm.models.utils import mix_batch, sample_batch_mix
from mmpretrain.registry import MODELS

BACKBONE = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
SIMCLR_NECK = dict(
    type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=16,
    num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d'))
SIMCLR_HEAD = dict(
    type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
    temperature=0.1)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """These batches are tiny: one intra-op thread is faster than two, and
    far faster when other jobs share the cores (OpenMP threads spin)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def hub(request):
    """A fresh current MessageHub (as a Runner keeps: iter, max_iters); a
    blank one is made current again afterwards."""
    name = f'test_baselines_{request.node.name}'
    yield MessageHub.get_instance(name)
    MessageHub.get_instance(name + '_done')


def views(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(2)]


def backbone_grad(model):
    grad = model.backbone.conv1.weight.grad
    return 0.0 if grad is None else grad.abs().sum().item()


def record_inputs(module):
    seen = []
    module.register_forward_hook(
        lambda m, args, out: seen.append(args[0].detach().clone()))
    return seen


# ---------------------------------------------------------------- Rotation
def build_rotation(**kwargs):
    cfg = dict(
        type='Rotation', backbone=BACKBONE,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=512,
                  loss=dict(type='CrossEntropyLoss')))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_rotation_images_are_exact_rot90_with_labels():
    rotation = MODELS.get('Rotation')
    # one 2x2 image [[a, b], [c, d]] = [[1, 2], [3, 4]]
    x = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    rotated, labels = rotation.rotate(x)
    by_hand = [[[1., 2.], [3., 4.]],   # 0°
               [[2., 4.], [1., 3.]],   # 90° counter-clockwise
               [[4., 3.], [2., 1.]],   # 180°
               [[3., 1.], [4., 2.]]]   # 270°
    torch.testing.assert_close(rotated[:, 0], torch.tensor(by_hand),
                               rtol=0, atol=0)
    assert labels.tolist() == [0, 1, 2, 3]

    x = torch.randn(3, 3, 8, 8)
    rotated, labels = rotation.rotate(x)
    assert labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for k in range(4):
        assert torch.equal(rotated[3 * k:3 * (k + 1)],
                           torch.rot90(x, k, dims=(2, 3)))


def test_rotation_loss_is_ce_on_the_rotated_batch_and_trains():
    model = build_rotation()
    x = views(n=2)[0]
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
        build_rotation().loss(torch.randn(2, 3, 32, 48), None)
    with pytest.raises(ValueError, match='num_classes=4'):
        build_rotation(head=dict(type='LinearClsHead', num_classes=3,
                                 in_channels=512,
                                 loss=dict(type='CrossEntropyLoss')))


# ------------------------------------------------------------ in-batch mix
def test_mix_batch_by_hand():
    x = torch.tensor([[1., 1.], [3., 3.], [10., 10.]])
    lam = torch.tensor([0.5, 0.25, 1.0])
    perm = torch.tensor([1, 2, 0])
    # 0.5*1 + 0.5*3 = 2; 0.25*3 + 0.75*10 = 8.25; 1.0*10 + 0*1 = 10
    expected = torch.tensor([[2., 2.], [8.25, 8.25], [10., 10.]])
    torch.testing.assert_close(mix_batch(x, lam, perm), expected)


def test_sample_batch_mix_modes_and_seeding():
    torch.manual_seed(3)
    lam, perm = sample_batch_mix(6, 1.0, 'batch', torch.device('cpu'))
    assert lam.shape == (6, ) and len(set(lam.tolist())) == 1
    assert sorted(perm.tolist()) == list(range(6))
    torch.manual_seed(3)
    again = sample_batch_mix(6, 1.0, 'batch', torch.device('cpu'))
    assert torch.equal(again[0], lam) and torch.equal(again[1], perm)
    lam, _ = sample_batch_mix(6, 1.0, 'sample', torch.device('cpu'))
    assert len(set(lam.tolist())) == 6 and bool(((lam > 0) & (lam < 1)).all())


# ------------------------------------------------------------- MixupSimCLR
def build_simclr(type_='SimCLR', **kwargs):
    return MODELS.build(dict(type=type_, backbone=BACKBONE, neck=SIMCLR_NECK,
                             head=SIMCLR_HEAD, **kwargs))


@pytest.mark.parametrize('lam_mode', ['batch', 'sample'])
def test_mixup_simclr_is_simclr_on_views_of_the_same_mixed_image(lam_mode):
    model = build_simclr('MixupSimCLR', alpha=0.5, lam_mode=lam_mode)
    ref = build_simclr()
    ref.load_state_dict(model.state_dict())
    v1, v2 = views()
    seen = record_inputs(model.backbone)
    torch.manual_seed(7)
    losses = model.loss([v1, v2], None)
    torch.manual_seed(7)
    lam, perm = sample_batch_mix(4, 0.5, lam_mode, torch.device('cpu'))
    # both views mixed with the same λ and the same partners
    m1, m2 = mix_batch(v1, lam, perm), mix_batch(v2, lam, perm)
    interleaved = torch.stack([m1, m2], 1).reshape(8, 3, 32, 32)
    torch.testing.assert_close(seen[0], interleaved)
    torch.testing.assert_close(losses['loss'],
                               ref.loss([m1, m2], None)['loss'])
    losses['loss'].backward()
    assert backbone_grad(model) > 0


def test_mixup_simclr_refuses_bad_alpha():
    with pytest.raises(ValueError, match='alpha'):
        build_simclr('MixupSimCLR', alpha=0.0)


# ------------------------------------------------------------------- MixCo
def test_mixco_soft_targets_by_hand():
    mixco = MODELS.get('MixCo')
    lam = torch.tensor([0.7, 0.2, 0.4])
    perm = torch.tensor([1, 0, 2])  # image 2 is its own partner
    expected = torch.tensor([[0.7, 0.3, 0.0],
                             [0.8, 0.2, 0.0],
                             [0.0, 0.0, 1.0]])
    torch.testing.assert_close(mixco.soft_targets(lam, perm), expected)


def test_mixco_loss_by_hand():
    model = build_simclr('MixCo', mix_temperature=0.5,
                         mix_loss=dict(type='CrossEntropyLoss', use_soft=True,
                                       loss_weight=2.0))
    q = torch.tensor([[1., 0.], [0., 1.]])
    keys = torch.tensor([[1., 0.], [0., 1.]])
    lam = torch.tensor([0.75, 0.5])
    perm = torch.tensor([1, 0])
    # logits = q·kᵀ/0.5 = [[2, 0], [0, 2]]; L = log(1 + e²)
    # row 0: targets [0.75, 0.25] -> -(0.75(2 - L) + 0.25(-L)) = L - 1.5
    # row 1: targets [0.5, 0.5]   -> -(0.5(-L) + 0.5(2 - L))   = L - 1
    L = math.log(1 + math.e**2)
    expected = 2.0 * ((L - 1.5) + (L - 1.0)) / 2
    torch.testing.assert_close(
        model.mixco_loss(q, keys, lam, perm), torch.tensor(expected))


def test_mixco_full_loss_simclr_part_mix_part_and_gradients():
    model = build_simclr('MixCo', alpha=1.0, lam_mode='sample',
                         mix_temperature=0.2)
    ref = build_simclr()
    ref.load_state_dict(model.state_dict(), strict=False)
    v1, v2 = views()
    seen = record_inputs(model.backbone)
    torch.manual_seed(11)
    losses = model.loss([v1, v2], None)
    assert set(losses) == {'loss_contrast', 'loss_mix'}
    # the contrastive part is SimCLR's NT-Xent on the plain views
    torch.testing.assert_close(losses['loss_contrast'],
                               ref.loss([v1, v2], None)['loss'])
    # the encoder's second batch holds the mixes of view 1, then view 2
    torch.manual_seed(11)
    draws = [sample_batch_mix(4, 1.0, 'sample', torch.device('cpu'))
             for _ in range(2)]
    mixed = torch.cat([mix_batch(v1, *draws[0]), mix_batch(v2, *draws[1])])
    assert torch.equal(seen[0], torch.cat([v1, v2]))
    torch.testing.assert_close(seen[1], mixed)
    # view-1 mixes are scored against view-2 keys and vice versa
    with torch.no_grad():
        z1, z2 = model.project(torch.cat([v1, v2])).split(4)
        q1, q2 = model.project(mixed).split(4)
        expected = (model.mixco_loss(q1, z2, *draws[0]) +
                    model.mixco_loss(q2, z1, *draws[1])) / 2
    torch.testing.assert_close(losses['loss_mix'], expected)
    losses['loss_mix'].backward()  # the mix loss alone reaches the encoder
    assert backbone_grad(model) > 0


# -------------------------------------------------------------------- DINO
def build_dino(out=8, **kwargs):
    cfg = dict(
        type='DINO', backbone=BACKBONE,
        neck=dict(type='DINONeck', in_channels=512, out_channels=out,
                  hid_channels=16, bottleneck_channels=4),
        head=dict(type='DINOHead', out_channels=out))
    for key, value in kwargs.items():
        if isinstance(value, dict) and key in cfg:
            cfg[key].update(value)
        else:
            cfg[key] = value
    return MODELS.build(cfg)


def crops(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(n, 3, 32, 32, generator=g) for _ in range(2)] +
            [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)])


def test_dino_neck_weight_normalised_last_layer_by_hand():
    neck = MODELS.build(dict(type='DINONeck', in_channels=2, out_channels=3,
                             bottleneck_channels=2, num_layers=1,
                             with_avg_pool=False))
    with torch.no_grad():
        neck.mlp[0].weight.copy_(torch.eye(2))
        neck.mlp[0].bias.zero_()
        neck.last_layer.weight.copy_(
            torch.tensor([[2., 0.], [0., 3.], [1., 1.]]))
    # x/‖x‖ = [0.6, 0.8]; rows of V/‖V‖ = [1,0], [0,1], [1,1]/√2
    out = neck((torch.tensor([[3., 4.]]), ))[0]
    torch.testing.assert_close(
        out, torch.tensor([[0.6, 0.8, 1.4 / math.sqrt(2)]]))
    assert not any('last_layer_g' in n for n, _ in neck.named_parameters())


def test_dino_head_temperatures_by_hand(hub):
    head = MODELS.build(dict(type='DINOHead', out_channels=2,
                             student_temp=0.25, teacher_temp=0.5))
    # teacher: softmax([1, 0] / 0.5) = [e², 1] / (e² + 1)
    p = torch.tensor([[math.e**2, 1.]]) / (math.e**2 + 1)
    torch.testing.assert_close(head.teacher_probs(torch.tensor([[1., 0.]])),
                               p)
    t = [torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]])]
    s = [torch.tensor([[0., 0.]]), torch.tensor([[0.5, 0.]]),
         torch.tensor([[0., 0.25]])]

    def ce(target, student):  # −Σ P_t · log softmax(s / 0.25)
        z = [v / 0.25 for v in student]
        lse = math.log(sum(math.exp(v) for v in z))
        return -sum(pt * (zk - lse) for pt, zk in zip(target, z))

    pt0 = [math.e**2 / (math.e**2 + 1), 1 / (math.e**2 + 1)]
    pt1 = pt0[::-1]
    # pairs (teacher crop, student crop): (0,1) (0,2) (1,0) (1,2)
    expected = (ce(pt0, [0.5, 0.]) + ce(pt0, [0., 0.25]) +
                ce(pt1, [0., 0.]) + ce(pt1, [0., 0.25])) / 4
    torch.testing.assert_close(head.loss(s, t), torch.tensor(expected))


def test_dino_head_centering_update_and_use(hub):
    head = MODELS.build(dict(type='DINOHead', out_channels=2,
                             student_temp=0.1, teacher_temp=1.0,
                             center_momentum=0.9))
    s = [torch.zeros(2, 2)] * 3
    t1 = [torch.tensor([[1., 0.], [3., 2.]]), torch.tensor([[0., 0.],
                                                           [4., 2.]])]
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


def test_dino_head_teacher_temperature_warmup(hub):
    head = MODELS.build(dict(type='DINOHead', out_channels=2,
                             teacher_temp=0.07, warmup_teacher_temp=0.04,
                             warmup_teacher_temp_iters=10))
    for it, temp in ((0, 0.04), (5, 0.055), (10, 0.07), (50, 0.07)):
        hub.update_info('iter', it)
        assert head.current_teacher_temp() == pytest.approx(temp)


def test_dino_teacher_ema_equals_the_momentum_formula(hub):
    hub.update_info('max_iters', 10)
    model = build_dino(base_momentum=0.1, end_momentum=0.)
    x = crops()
    model.loss(x, None)  # first update: the teacher copies the student
    student = dict(torch.nn.Sequential(model.backbone,
                                       model.neck).named_parameters())
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
        torch.testing.assert_close(
            teacher[k], (1 - m) * old[k] + m * student[k].detach())


def test_dino_multicrop_routing_and_gradients(hub):
    hub.update_info('max_iters', 10)
    model = build_dino()
    t_seen = record_inputs(model.teacher.module[0])
    s_seen = record_inputs(model.backbone)
    x = crops(n=2)
    losses = model.loss(x, None)
    # the teacher sees the two global crops only, in one batch
    assert [tuple(a.shape) for a in t_seen] == [(4, 3, 32, 32)]
    assert torch.equal(t_seen[0], torch.cat(x[:2]))
    # the student sees every crop, one batch per crop size
    assert [tuple(a.shape) for a in s_seen] == [(4, 3, 32, 32),
                                                (4, 3, 16, 16)]
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert backbone_grad(model) > 0
    assert model.neck.last_layer.weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.head.center.abs().sum() > 0


def test_dino_freezes_the_last_layer_for_the_first_iterations(hub):
    hub.update_info('max_iters', 10)
    model = build_dino(neck=dict(freeze_last_layer_iters=2))
    hub.update_info('iter', 1)
    model.loss(crops(), None)['loss'].backward()
    assert model.neck.last_layer.weight.grad is None
    assert model.neck.mlp[0].weight.grad is not None
    hub.update_info('iter', 2)
    model.loss(crops(), None)['loss'].backward()
    assert model.neck.last_layer.weight.grad is not None


def test_dino_refuses_bad_inputs_and_mismatched_heads(hub):
    with pytest.raises(ValueError, match='prototypes'):
        build_dino(head=dict(out_channels=4))
    with pytest.raises(TypeError, match='global crops'):
        build_dino().loss(crops()[:2], None)
