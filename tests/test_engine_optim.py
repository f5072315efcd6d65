"""Optimizer, LR schedule and gradient clipping of woo.engine.optim."""
import pytest
import torch
from torch import nn

from woo.config import get_cfg
from woo.engine.optim import (
    ClippedAdamW,
    ParamSchedulerLR,
    build_lr_multiplier,
    build_lr_scheduler,
    build_optimizer,
    clip_gradients,
    optimizer_param_groups,
)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)


def _solver_cfg(*opts):
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.BASE_LR", 1.0, "SOLVER.BACKBONE_MULTIPLIER", 0.1, *opts])
    return cfg


def _lrs(max_iter=100, steps=(50, 80), warmup_iters=10, warmup_factor=1e-3, method="linear"):
    model = _Net()
    opt = build_optimizer(_solver_cfg("SOLVER.CLIP_GRADIENTS.ENABLED", False), model)
    mult = build_lr_multiplier(
        max_iter=max_iter, steps=steps, gamma=0.1, warmup_iters=warmup_iters,
        warmup_factor=warmup_factor, warmup_method=method,
    )
    sched = ParamSchedulerLR(opt, mult, max_iter, steps=steps)
    lrs = []
    for _ in range(max_iter):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return lrs, opt, sched


def test_backbone_params_get_the_multiplier():
    model = _Net()
    opt = build_optimizer(_solver_cfg("SOLVER.BASE_LR", 2.0, "SOLVER.BACKBONE_MULTIPLIER", 0.5,
                                      "SOLVER.CLIP_GRADIENTS.ENABLED", False), model)
    assert type(opt) is torch.optim.AdamW
    backbone, head = opt.param_groups  # in the order of model.modules()
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert head["lr"] == 2.0 and backbone["lr"] == 1.0
    assert head["weight_decay"] == 1e-4


def test_norm_params_take_weight_decay_norm_and_frozen_params_are_left_out():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[3].bias.requires_grad_(False)
    groups = optimizer_param_groups(model, base_lr=1.0, weight_decay=1e-4, weight_decay_norm=0.0)
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in groups] == [(1.0, 1e-4, 3), (1.0, 0.0, 4)]
    opt = build_optimizer(_solver_cfg("SOLVER.WEIGHT_DECAY_NORM", 0.0, "SOLVER.WEIGHT_DECAY", 0.5), model)
    norm_ids = {id(p) for m in (model[1], model[2]) for p in m.parameters()}
    for group in opt.param_groups:
        assert group["weight_decay"] == (0.0 if id(group["params"][0]) in norm_ids else 0.5)
    # Equal decays give one group: the paper's recipe decays every parameter alike.
    assert len(build_optimizer(_solver_cfg("SOLVER.BACKBONE_MULTIPLIER", 1.0), model).param_groups) == 1


def test_optimizer_clips_at_step_per_config():
    model = _Net()
    opt = build_optimizer(_solver_cfg("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", 0.5), model)
    assert isinstance(opt, ClippedAdamW)
    sum(p.sum() for p in model.parameters()).mul(100).backward()
    opt.step()
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert total == pytest.approx(0.5, rel=1e-4)
    with pytest.raises(ValueError, match="CLIP_TYPE"):
        build_optimizer(_solver_cfg("SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "bogus"), model)
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER"):
        build_optimizer(_solver_cfg("SOLVER.OPTIMIZER", "SGD"), model)


def test_max_iter_alone_cuts_steps_and_warmup_as_detectron2(caplog):
    """SOLVER.MAX_ITER 20 on a config with STEPS (1400, 1700) and WARMUP_ITERS 50."""
    cfg = _solver_cfg("SOLVER.MAX_ITER", 20, "SOLVER.STEPS", (10, 1400, 1700), "SOLVER.WARMUP_ITERS", 50,
                      "SOLVER.CLIP_GRADIENTS.ENABLED", False)
    opt = build_optimizer(cfg, _Net())
    with caplog.at_level("WARNING"):
        sched = build_lr_scheduler(opt, cfg)
    assert "SOLVER.STEPS" in caplog.text and "SOLVER.WARMUP_ITERS" in caplog.text
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[1]["lr"])
        opt.step()
        sched.step()
    # Warm-up over the whole run towards the last value, (1e-3 -> 0.1 at iteration 19); the step at 10 kept.
    final = 0.1
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[19] == pytest.approx(1e-3 + (final - 1e-3) * 19 / 20)
    assert all(a < b for a, b in zip(lrs, lrs[1:]))


def test_warmup_then_steps_hand_computed():
    lrs, _, _ = _lrs()
    head = [lr[1] for lr in lrs]
    assert head[0] == pytest.approx(1e-3)
    assert head[5] == pytest.approx(1e-3 + 0.5 * (1 - 1e-3))
    assert head[10] == pytest.approx(1.0)
    assert head[49] == pytest.approx(1.0)
    assert head[50] == pytest.approx(0.1)
    assert head[79] == pytest.approx(0.1)
    assert head[80] == pytest.approx(0.01)
    assert head[99] == pytest.approx(0.01)
    # the backbone keeps its ratio throughout
    assert all(b == pytest.approx(0.1 * h) for b, h in lrs)


def test_constant_warmup():
    lrs, _, _ = _lrs(method="constant")
    assert lrs[0][1] == pytest.approx(1e-3) and lrs[9][1] == pytest.approx(1e-3)
    assert lrs[10][1] == pytest.approx(1.0)


def test_scheduler_state_round_trip(caplog):
    _, opt, sched = _lrs(max_iter=100)
    state = sched.state_dict()
    assert state == {"base_lrs": [0.1, 1.0], "last_epoch": 100, "max_iter": 100, "steps": [50, 80]}
    opt2 = build_optimizer(_solver_cfg("SOLVER.CLIP_GRADIENTS.ENABLED", False), _Net())
    sched2 = ParamSchedulerLR(opt2, build_lr_multiplier(
        max_iter=100, steps=(50, 80), gamma=0.1, warmup_iters=10, warmup_factor=1e-3), 100, steps=(50, 80))
    state["last_epoch"] = 60
    with caplog.at_level("WARNING"):
        sched2.load_state_dict(state)
    assert opt2.param_groups[1]["lr"] == pytest.approx(0.1) and not caplog.messages
    # The state of another schedule (say, a training set that changed since) loads, with a warning naming both.
    opt3 = build_optimizer(_solver_cfg("SOLVER.CLIP_GRADIENTS.ENABLED", False), _Net())
    sched3 = ParamSchedulerLR(opt3, build_lr_multiplier(
        max_iter=200, steps=(100,), gamma=0.1, warmup_iters=10, warmup_factor=1e-3), 200, steps=(100,))
    with caplog.at_level("WARNING"):
        sched3.load_state_dict(state)
    assert caplog.messages == ["the checkpoint's LR schedule (100 iterations, LR steps at [50, 80]) is not this "
                               "run's (200 iterations, LR steps at [100]): training goes on with this run's"]
    assert opt3.param_groups[1]["lr"] == pytest.approx(1.0)  # iteration 60 of this run's schedule


@pytest.mark.parametrize("steps", [(0,), (60, 50), (50, 50)])
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
