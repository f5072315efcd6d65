"""Optimizer, LR schedule and gradient clipping of woo.engine.optim."""
import pytest
import torch
from torch import nn

from woo.engine.optim import (
    ParamSchedulerLR,
    build_lr_multiplier,
    build_optimizer,
    clip_gradients,
)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)


def _lrs(max_iter=100, steps=(50, 80), warmup_iters=10, warmup_factor=1e-3, method="linear"):
    model = _Net()
    opt = build_optimizer(model, base_lr=1.0, weight_decay=1e-4, backbone_multiplier=0.1)
    mult = build_lr_multiplier(
        max_iter=max_iter, steps=steps, gamma=0.1, warmup_iters=warmup_iters,
        warmup_factor=warmup_factor, warmup_method=method,
    )
    sched = ParamSchedulerLR(opt, mult, max_iter)
    lrs = []
    for _ in range(max_iter):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return lrs, opt, sched


def test_backbone_params_get_the_multiplier():
    model = _Net()
    opt = build_optimizer(model, base_lr=2.0, weight_decay=1e-4, backbone_multiplier=0.5)
    assert isinstance(opt, torch.optim.AdamW)
    head, backbone = opt.param_groups
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert head["lr"] == 2.0 and backbone["lr"] == 1.0
    assert head["weight_decay"] == 1e-4


def test_warmup_then_steps_hand_computed():
    lrs, _, _ = _lrs()
    head = [lr[0] for lr in lrs]
    assert head[0] == pytest.approx(1e-3)
    assert head[5] == pytest.approx(1e-3 + 0.5 * (1 - 1e-3))
    assert head[10] == pytest.approx(1.0)
    assert head[49] == pytest.approx(1.0)
    assert head[50] == pytest.approx(0.1)
    assert head[79] == pytest.approx(0.1)
    assert head[80] == pytest.approx(0.01)
    assert head[99] == pytest.approx(0.01)
    # the backbone keeps its ratio throughout
    assert all(b == pytest.approx(0.1 * h) for h, b in lrs)


def test_constant_warmup():
    lrs, _, _ = _lrs(method="constant")
    assert lrs[0][0] == pytest.approx(1e-3) and lrs[9][0] == pytest.approx(1e-3)
    assert lrs[10][0] == pytest.approx(1.0)


def test_scheduler_state_round_trip():
    _, opt, sched = _lrs(max_iter=100)
    state = sched.state_dict()
    assert state == {"base_lrs": [1.0, 0.1], "last_epoch": 100}
    model = _Net()
    opt2 = build_optimizer(model, base_lr=1.0, weight_decay=0.0, backbone_multiplier=0.1)
    sched2 = ParamSchedulerLR(opt2, build_lr_multiplier(
        max_iter=100, steps=(50, 80), gamma=0.1, warmup_iters=10, warmup_factor=1e-3), 100)
    state["last_epoch"] = 60
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("steps", [(100,), (0,), (60, 50)])
def test_bad_steps_name_the_key(steps):
    with pytest.raises(ValueError, match="SOLVER.STEPS"):
        build_lr_multiplier(max_iter=100, steps=steps, gamma=0.1, warmup_iters=1, warmup_factor=0.1)


def test_clip_full_model_norm():
    a = nn.Parameter(torch.zeros(2))
    b = nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([4.0])
    clip_gradients([a, b], clip_type="full_model", clip_value=1.0, norm_type=2.0)
    assert torch.allclose(a.grad, torch.tensor([0.6, 0.0]), atol=1e-5)
    assert torch.allclose(b.grad, torch.tensor([0.8]), atol=1e-5)
    a.grad = torch.tensor([3.0, -0.5])
    clip_gradients([a], clip_type="value", clip_value=1.0, norm_type=2.0)
    assert a.grad.tolist() == [1.0, -0.5]
    with pytest.raises(ValueError, match="CLIP_TYPE"):
        clip_gradients([a], clip_type="bogus", clip_value=1.0, norm_type=2.0)
