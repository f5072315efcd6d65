"""Optimizer, learning-rate schedule and gradient clipping of the paper's recipe.

AdamW with a separate learning rate for the backbone, and a linear warm-up
followed by step decay, written as fvcore ``ParamScheduler`` s over the
fraction of training done and applied through a ``torch.optim`` scheduler so
that its state is saved in checkpoints.
"""
import itertools
import logging
from typing import Dict, Iterable, List

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
    "optimizer_param_groups",
    "ClippedAdamW",
    "build_lr_scheduler",
    "build_lr_multiplier",
    "ParamSchedulerLR",
    "clip_gradients",
]

logger = logging.getLogger(__name__)

# Modules whose parameters take SOLVER.WEIGHT_DECAY_NORM (detectron2's list).
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def optimizer_param_groups(
    model: nn.Module,
    *,
    base_lr: float,
    weight_decay: float,
    weight_decay_norm: float,
    backbone_multiplier: float = 1.0,
) -> List[Dict]:
    """Parameter groups of the trainable parameters of ``model``.

    Parameters of ``model.backbone`` (when the model has one) train at
    ``base_lr * backbone_multiplier``, the rest at ``base_lr``; parameters of
    normalization layers take ``weight_decay_norm``, the rest ``weight_decay``.
    Groups with the same settings are merged; frozen parameters are left out.
    """
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups: Dict[tuple, Dict] = {}
    seen = set()
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            lr = base_lr * backbone_multiplier if id(p) in backbone_ids else base_lr
            wd = weight_decay_norm if isinstance(module, _NORM_TYPES) else weight_decay
            groups.setdefault((lr, wd), {"params": [], "lr": lr, "weight_decay": wd})["params"].append(p)
    return list(groups.values())


class ClippedAdamW(torch.optim.AdamW):
    """AdamW that clips the gradients of all its parameters right before each step.

    Clipping inside ``step`` comes after AMP's unscaling (``GradScaler.step``
    unscales, then steps) in both engines, and detectron2's trainers need no
    clipping step of their own (its ``maybe_add_gradient_clipping`` knows no
    "full_model" clipping).

    Args:
        params: as for ``torch.optim.AdamW``.
        clip_type, clip_value, norm_type: as for :func:`clip_gradients`.
    """

    def __init__(self, params, *, clip_type: str, clip_value: float, norm_type: float, **kwargs):
        super().__init__(params, **kwargs)
        self.clip_settings = {"clip_type": clip_type, "clip_value": clip_value, "norm_type": norm_type}
        clip_gradients([], **self.clip_settings)  # an unknown CLIP_TYPE fails here, not at the first step

    def step(self, closure=None):
        clip_gradients(itertools.chain.from_iterable(g["params"] for g in self.param_groups), **self.clip_settings)
        return super().step(closure)


def build_optimizer(cfg, model: nn.Module) -> torch.optim.AdamW:
    """The optimizer of ``cfg.SOLVER`` for ``model``, used by ``woo train`` and ``train_net.py``.

    AdamW over :func:`optimizer_param_groups` (``BASE_LR``, ``WEIGHT_DECAY``,
    ``WEIGHT_DECAY_NORM``, ``BACKBONE_MULTIPLIER``); a :class:`ClippedAdamW`
    when ``CLIP_GRADIENTS.ENABLED``.
    """
    s = cfg.SOLVER
    if s.OPTIMIZER != "ADAMW":
        raise ValueError(f"SOLVER.OPTIMIZER must be 'ADAMW', got {s.OPTIMIZER!r}")
    groups = optimizer_param_groups(
        model,
        base_lr=s.BASE_LR,
        weight_decay=s.WEIGHT_DECAY,
        weight_decay_norm=s.WEIGHT_DECAY_NORM,
        backbone_multiplier=s.BACKBONE_MULTIPLIER,
    )
    c = s.CLIP_GRADIENTS
    if not c.ENABLED:
        return torch.optim.AdamW(groups, lr=s.BASE_LR, weight_decay=s.WEIGHT_DECAY)
    return ClippedAdamW(groups, lr=s.BASE_LR, weight_decay=s.WEIGHT_DECAY,
                        clip_type=c.CLIP_TYPE, clip_value=c.CLIP_VALUE, norm_type=c.NORM_TYPE)


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

    As in detectron2, steps past ``max_iter`` are dropped with a warning and
    a warm-up longer than ``max_iter`` is cut to the whole run, so
    ``SOLVER.MAX_ITER N`` alone gives a short run of any config.

    Raises:
        ValueError: steps not positive and increasing, or an unknown warm-up
            method, named by its config key.
    """
    steps = [int(s) for s in steps]
    if any(s <= 0 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"SOLVER.STEPS must be increasing positive iterations, got {tuple(steps)}")
    kept = [s for s in steps if s < max_iter]
    if len(kept) != len(steps):
        logger.warning(f"SOLVER.STEPS {tuple(steps)} at or past SOLVER.MAX_ITER={max_iter} are ignored")
    decay = MultiStepParamScheduler(
        values=[gamma**k for k in range(len(kept) + 1)], milestones=kept, num_updates=max_iter
    )
    if warmup_iters <= 0:
        return decay
    if warmup_iters >= max_iter:
        logger.warning(f"SOLVER.WARMUP_ITERS={warmup_iters} covers all of SOLVER.MAX_ITER={max_iter}")
    fraction = min(warmup_iters / max_iter, 1.0)
    if warmup_method == "linear":
        # Ends at the decayed value at the end of warm-up, so the curve has no jump.
        warmup = LinearParamScheduler(warmup_factor, decay(min(fraction, (max_iter - 1) / max_iter)))
    elif warmup_method == "constant":
        warmup = ConstantParamScheduler(warmup_factor)
    else:
        raise ValueError(
            f"SOLVER.WARMUP_METHOD must be 'linear' or 'constant', got {warmup_method!r}"
        )
    if fraction == 1.0:
        return warmup
    return CompositeParamScheduler(
        [warmup, decay],
        interval_scaling=["rescaled", "fixed"],
        lengths=[fraction, 1.0 - fraction],
    )


class ParamSchedulerLR(torch.optim.lr_scheduler.LRScheduler):
    """Sets every group's LR to its initial LR times ``multiplier(iter / max_iter)``.

    Only ``base_lrs``, ``last_epoch`` (the iteration) and the schedule's length and LR steps
    are saved: fvcore schedulers are stateless, and keeping them out keeps checkpoints
    loadable with ``torch.load(weights_only=True)``. Loading the state of another schedule
    (a training set or batch that changed since, or a longer ``SOLVER.MAX_ITER`` to train on)
    logs a warning naming both; the run then follows its own.

    Args:
        optimizer: the optimizer whose groups' LRs are set.
        multiplier: LR factor as a function of the fraction of training done.
        max_iter: iterations of the run.
        steps: the schedule's ``SOLVER.STEPS`` (recorded in the state, to tell schedules apart).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, multiplier: ParamScheduler, max_iter: int,
                 steps: Iterable[int] = ()):
        self._multiplier = multiplier
        self._max_iter = max_iter
        self._steps = [int(s) for s in steps]
        super().__init__(optimizer, last_epoch=-1)

    def state_dict(self) -> dict:
        return {"base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch, "max_iter": self._max_iter,
                "steps": list(self._steps)}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = (state_dict.get("max_iter", self._max_iter), list(state_dict.get("steps", self._steps)))
        if saved != (self._max_iter, self._steps):
            logger.warning(
                f"the checkpoint's LR schedule ({saved[0]} iterations, LR steps at {saved[1]}) is not this run's "
                f"({self._max_iter} iterations, LR steps at {self._steps}): training goes on with this run's"
            )
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
    """The paper's schedule from the ``SOLVER`` keys of ``cfg``, in iterations (a schedule in epochs is
    resolved first: :func:`woo.engine.schedule.resolve_schedule`)."""
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
    return ParamSchedulerLR(optimizer, multiplier, cfg.SOLVER.MAX_ITER, steps=cfg.SOLVER.STEPS)


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
