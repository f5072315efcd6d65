"""The optimizer and LR schedule of ``woo train``, for detectron2's trainer."""
import itertools
from typing import Callable, List

import torch
from torch import nn

from woo.engine.optim import build_lr_scheduler as build_woo_lr_scheduler
from woo.engine.optim import build_optimizer as build_woo_optimizer
from woo.engine.optim import clip_gradients

__all__ = ["ClippedAdamW", "build_optimizer", "build_lr_scheduler"]


class ClippedAdamW(torch.optim.AdamW):
    """AdamW that clips the gradients of all its parameters right before each step.

    detectron2's trainers have no clipping step of their own (and its
    ``maybe_add_gradient_clipping`` knows no "full_model" clipping); inside
    ``step`` the clipping also comes after AMP's unscaling.

    Args:
        param_groups: as for ``torch.optim.AdamW``.
        clip: called with the list of parameters; clips their gradients in place.
    """

    def __init__(self, param_groups: List[dict], *, clip: Callable[[List[nn.Parameter]], None]):
        super().__init__(param_groups)
        self._clip = clip

    def step(self, closure=None):
        self._clip(list(itertools.chain.from_iterable(g["params"] for g in self.param_groups)))
        return super().step(closure)


def build_optimizer(cfg, model: nn.Module) -> torch.optim.AdamW:
    """AdamW with the backbone LR multiplier, clipping per ``SOLVER.CLIP_GRADIENTS``."""
    if cfg.SOLVER.OPTIMIZER != "ADAMW":
        raise ValueError(f"SOLVER.OPTIMIZER must be 'ADAMW', got {cfg.SOLVER.OPTIMIZER!r}")
    optimizer = build_woo_optimizer(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        backbone_multiplier=cfg.SOLVER.BACKBONE_MULTIPLIER,
    )
    c = cfg.SOLVER.CLIP_GRADIENTS
    if not c.ENABLED:
        return optimizer

    def clip(params: List[nn.Parameter]) -> None:
        clip_gradients(params, clip_type=c.CLIP_TYPE, clip_value=c.CLIP_VALUE, norm_type=c.NORM_TYPE)

    clip([])  # an unknown CLIP_TYPE fails here, not at the first step
    return ClippedAdamW(optimizer.param_groups, clip=clip)


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Warm-up and step decay of ``SOLVER``, stepped once per iteration by detectron2's LRScheduler hook."""
    return build_woo_lr_scheduler(optimizer, cfg)
