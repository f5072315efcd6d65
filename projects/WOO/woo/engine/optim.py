"""Optimizer, learning-rate schedule and gradient clipping of the paper's recipe.

AdamW with a separate learning rate for the backbone, and a linear warm-up
followed by step decay, written as fvcore ``ParamScheduler`` s over the
fraction of training done and applied through a ``torch.optim`` scheduler so
that its state is saved in checkpoints.
"""
from typing import Iterable, List

import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
)
from torch import nn

__all__ = [
    "build_optimizer",
    "build_lr_scheduler",
    "build_lr_multiplier",
    "ParamSchedulerLR",
    "clip_gradients",
]


def build_optimizer(
    model: nn.Module,
    *,
    base_lr: float,
    weight_decay: float,
    backbone_multiplier: float = 1.0,
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``model``.

    Parameters of ``model.backbone`` (when the model has one) train at
    ``base_lr * backbone_multiplier``; the rest at ``base_lr``. Frozen
    parameters are left out.
    """
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    backbone_params, head_params = [], []
    for p in model.parameters():
        if p.requires_grad:
            (backbone_params if id(p) in backbone_ids else head_params).append(p)
    groups = [{"params": head_params, "lr": base_lr}]
    if backbone_params:
        groups.append({"params": backbone_params, "lr": base_lr * backbone_multiplier})
    return torch.optim.AdamW(groups, lr=base_lr, weight_decay=weight_decay)


def build_lr_multiplier(
    *,
    max_iter: int,
    steps: Iterable[int],
    gamma: float,
    warmup_iters: int,
    warmup_factor: float,
    warmup_method: str = "linear",
) -> ParamScheduler:
    """LR factor as a function of the fraction of training done, ``where`` in [0, 1).

    Step decay: ``gamma ** k`` after the k-th of ``steps`` (iterations). Warm-up:
    over the first ``warmup_iters`` iterations the factor goes from
    ``warmup_factor`` to 1 (``"linear"``) or stays at ``warmup_factor``
    (``"constant"``).

    Raises:
        ValueError: a step outside (0, max_iter) or steps not increasing, or an
            unknown warm-up method, named by its config key.
    """
    steps = [int(s) for s in steps]
    if any(not 0 < s < max_iter for s in steps) or steps != sorted(set(steps)):
        raise ValueError(
            f"SOLVER.STEPS must be increasing iterations inside (0, SOLVER.MAX_ITER={max_iter}), "
            f"got {tuple(steps)}"
        )
    decay = MultiStepParamScheduler(
        values=[gamma**k for k in range(len(steps) + 1)], milestones=steps, num_updates=max_iter
    )
    if warmup_iters <= 0:
        return decay
    if warmup_iters >= max_iter:
        raise ValueError(
            f"SOLVER.WARMUP_ITERS={warmup_iters} must be smaller than SOLVER.MAX_ITER={max_iter}"
        )
    if warmup_method == "linear":
        # Ends at the decayed value at the end of warm-up, so the curve has no jump.
        warmup = LinearParamScheduler(warmup_factor, decay(warmup_iters / max_iter))
    elif warmup_method == "constant":
        warmup = ConstantParamScheduler(warmup_factor)
    else:
        raise ValueError(
            f"SOLVER.WARMUP_METHOD must be 'linear' or 'constant', got {warmup_method!r}"
        )
    fraction = warmup_iters / max_iter
    return CompositeParamScheduler(
        [warmup, decay],
        interval_scaling=["rescaled", "fixed"],
        lengths=[fraction, 1.0 - fraction],
    )


class ParamSchedulerLR(torch.optim.lr_scheduler.LRScheduler):
    """Sets every group's LR to its initial LR times ``multiplier(iter / max_iter)``.

    Only ``base_lrs`` and ``last_epoch`` (the iteration) are saved: fvcore
    schedulers are stateless, and keeping them out keeps checkpoints loadable
    with ``torch.load(weights_only=True)``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, multiplier: ParamScheduler, max_iter: int):
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=-1)

    def state_dict(self) -> dict:
        return {"base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = int(state_dict["last_epoch"])
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> List[float]:
        # The step after the last iteration asks for where == 1; keep the final factor.
        where = min(self.last_epoch, self._max_iter - 1) / self._max_iter
        factor = self._multiplier(where)
        return [base_lr * factor for base_lr in self.base_lrs]


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg) -> ParamSchedulerLR:
    """The paper's schedule from the ``SOLVER`` keys of ``cfg``."""
    name = cfg.SOLVER.LR_SCHEDULER_NAME
    if name != "WarmupMultiStepLR":
        raise ValueError(f"SOLVER.LR_SCHEDULER_NAME must be 'WarmupMultiStepLR', got {name!r}")
    multiplier = build_lr_multiplier(
        max_iter=cfg.SOLVER.MAX_ITER,
        steps=cfg.SOLVER.STEPS,
        gamma=cfg.SOLVER.GAMMA,
        warmup_iters=cfg.SOLVER.WARMUP_ITERS,
        warmup_factor=cfg.SOLVER.WARMUP_FACTOR,
        warmup_method=cfg.SOLVER.WARMUP_METHOD,
    )
    return ParamSchedulerLR(optimizer, multiplier, cfg.SOLVER.MAX_ITER)


def clip_gradients(
    parameters: Iterable[nn.Parameter], *, clip_type: str, clip_value: float, norm_type: float
) -> None:
    """Clip gradients in place.

    Args:
        clip_type: ``"full_model"`` (one norm over all gradients), ``"norm"``
            (each parameter's gradient norm) or ``"value"`` (each element).
    """
    params = [p for p in parameters if p.grad is not None]
    if clip_type == "full_model":
        torch.nn.utils.clip_grad_norm_(params, clip_value, norm_type)
    elif clip_type == "norm":
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], clip_value, norm_type)
    elif clip_type == "value":
        torch.nn.utils.clip_grad_value_(params, clip_value)
    else:
        raise ValueError(
            "SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be 'full_model', 'norm' or 'value', "
            f"got {clip_type!r}"
        )
