"""Actor localization head: Sparse R-CNN style set prediction on the key-frame FPN."""
import copy
import math
import re
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .interaction import InteractionBlock
from .pooler import FPNRoIAlign

__all__ = ["ActorStage", "ActorLocalizationHead", "apply_box_deltas"]

# Sparse R-CNN's delta weights and clamp: keeps exp() finite for wild early deltas.
_DELTA_WEIGHTS = (2.0, 2.0, 1.0, 1.0)
_SCALE_CLAMP = math.log(100000.0 / 16)


def apply_box_deltas(deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Refine boxes with (dx, dy, dw, dh) deltas.

    Args:
        deltas: (M, 4).
        boxes: (M, 4) x1, y1, x2, y2.

    Returns:
        (M, 4) refined x1, y1, x2, y2.
    """
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = _DELTA_WEIGHTS
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw = (deltas[:, 2] / ww).clamp(max=_SCALE_CLAMP)
    dh = (deltas[:, 3] / wh).clamp(max=_SCALE_CLAMP)
    cx, cy = dx * widths + ctr_x, dy * heights + ctr_y
    w, h = torch.exp(dw) * widths, torch.exp(dh) * heights
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)


def _mlp_tower(dim: int, depth: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class ActorStage(nn.Module):
    """One refinement stage: RoIAlign, self-attention among proposals, dynamic
    instance interaction, FFN, then actor/no-actor logits and box deltas."""

    def __init__(self, *, hidden_dim: int, dim_feedforward: int, num_heads: int, dropout: float,
                 dim_dynamic: int, num_dynamic: int, pooler_resolution: int,
                 num_cls_layers: int = 1, num_reg_layers: int = 3):
        """
        Args:
            hidden_dim: proposal feature width d (equals FPN channels).
            dim_feedforward: FFN hidden width.
            num_heads: attention heads.
            dropout: dropout in attention and FFN.
            dim_dynamic: inner width of the dynamic layers.
            num_dynamic: number of dynamic layers.
            pooler_resolution: RoIAlign output size R (R x R tokens).
            num_cls_layers: layers of the classification tower.
            num_reg_layers: layers of the box regression tower.
        """
        super().__init__()
        self.block = InteractionBlock(hidden_dim=hidden_dim, num_heads=num_heads, dropout=dropout,
                                      dim_dynamic=dim_dynamic, num_dynamic=num_dynamic,
                                      num_tokens=pooler_resolution ** 2,
                                      dim_feedforward=dim_feedforward)
        self.cls_tower = _mlp_tower(hidden_dim, num_cls_layers)
        self.reg_tower = _mlp_tower(hidden_dim, num_reg_layers)
        # Two classes: index 0 actor, index 1 no actor.
        self.class_logits = nn.Linear(hidden_dim, 2)
        self.box_deltas = nn.Linear(hidden_dim, 4)

    def forward(self, roi_features: torch.Tensor, proposal_features: torch.Tensor,
                boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            roi_features: (N * P, d, R, R) RoIAlign of the current boxes.
            proposal_features: (N, P, d).
            boxes: (N, P, 4) current boxes, x1 y1 x2 y2 in pixels.

        Returns:
            logits (N, P, 2), refined boxes (N, P, 4), proposal features (N, P, d).
        """
        n, p, d = proposal_features.shape
        tokens = roi_features.flatten(2).transpose(1, 2)  # (N * P, R * R, d)
        x = self.block(proposal_features, tokens).reshape(n * p, d)
        logits = self.class_logits(self.cls_tower(x))
        new_boxes = apply_box_deltas(self.box_deltas(self.reg_tower(x)), boxes.reshape(-1, 4))
        return logits.view(n, p, 2), new_boxes.view(n, p, 4), x.view(n, p, d)


class ActorLocalizationHead(nn.Module):
    """Learnable proposals refined by ``num_stages`` ActorStages (deep supervision)."""

    def __init__(self, *, stage: ActorStage, num_stages: int, num_proposals: int, hidden_dim: int,
                 level_names: Sequence[str], pooler_resolution: int):
        """
        Args:
            stage: template stage; each stage is an independent copy.
            num_stages: number of refinement stages.
            num_proposals: learnable proposals P per clip.
            hidden_dim: proposal feature width d.
            level_names: FPN levels to pool from, finest first, "p<k>" of stride 2**k
                (e.g. "p2".."p5"); each box is pooled from the level its size picks.
            pooler_resolution: RoIAlign output size.
        """
        super().__init__()
        bad = [n for n in level_names if not re.fullmatch(r"p\d+", n)]
        if bad:
            raise ValueError(f"actor-head levels must be named 'p<k>' (stride 2**k), got {bad}")
        self.level_names = tuple(level_names)
        self.stages = nn.ModuleList(copy.deepcopy(stage) for _ in range(num_stages))
        # aligned=True, as the action head's RoIAlign (projects/WOO/README.md says why).
        self.pooler = FPNRoIAlign(levels=[int(n[1:]) for n in level_names], output_size=pooler_resolution,
                                  sampling_ratio=2)
        # Normalized cx, cy, w, h; every proposal starts as the whole frame.
        self.init_boxes = nn.Embedding(num_proposals, 4)
        self.init_features = nn.Embedding(num_proposals, hidden_dim)
        self.reset_proposals()

    def reset_proposals(self) -> None:
        """Whole-frame proposal boxes (Xavier must not touch them)."""
        nn.init.constant_(self.init_boxes.weight[:, :2], 0.5)
        nn.init.constant_(self.init_boxes.weight[:, 2:], 1.0)

    @classmethod
    def from_config(cls, cfg, level_names: Sequence[str]) -> Dict:
        """Keyword arguments from ``cfg`` for the key-frame levels ``level_names``, finest first."""
        w = cfg.MODEL.WOO
        stage = ActorStage(hidden_dim=w.HIDDEN_DIM, dim_feedforward=w.DIM_FEEDFORWARD,
                           num_heads=w.NUM_HEADS, dropout=w.DROPOUT, dim_dynamic=w.DIM_DYNAMIC,
                           num_dynamic=w.NUM_DYNAMIC, pooler_resolution=w.POOLER_RESOLUTION)
        return dict(stage=stage, num_stages=w.NUM_STAGES, num_proposals=w.NUM_PROPOSALS,
                   hidden_dim=w.HIDDEN_DIM, level_names=level_names,
                   pooler_resolution=w.POOLER_RESOLUTION)

    def initial_boxes(self, image_sizes: torch.Tensor) -> torch.Tensor:
        """Proposal boxes (N, P, 4) x1 y1 x2 y2 in pixels of each clip's (H, W) ``image_sizes``."""
        cx, cy, w, h = self.init_boxes.weight.unbind(1)
        unit = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)
        whwh = image_sizes.flip(1).repeat(1, 2).to(unit.dtype)  # (N, 4) W H W H
        return unit[None] * whwh[:, None]

    def forward(self, features: Dict[str, torch.Tensor], image_sizes: torch.Tensor,
                padded_size: Tuple[int, int]) -> List[Dict[str, torch.Tensor]]:
        """
        Args:
            features: FPN levels, each (N, d, H_l, W_l).
            image_sizes: (N, 2) unpadded (H, W) of each clip.
            padded_size: (H, W) of the padded batch; level "p<k>" must be 2**k times smaller.

        Returns:
            one dict per stage: "logits" (N, P, 2), "boxes" (N, P, 4) in pixels,
            "features" (N, P, d).
        """
        levels = [features[name] for name in self.level_names]
        for name, k, x in zip(self.level_names, self.pooler.levels, levels):
            # The pooling scale comes from the level's name: a backbone must keep the contract.
            if tuple(x.shape[-2:]) != (padded_size[0] // 2 ** k, padded_size[1] // 2 ** k):
                raise ValueError(f"level {name!r} is {tuple(x.shape[-2:])} for a padded input of "
                                 f"{tuple(padded_size)}; a 'p{k}' level has stride {2 ** k}")
        n = image_sizes.shape[0]
        levels = self.pooler.prepare(levels)  # once for all stages
        boxes = self.initial_boxes(image_sizes)
        proposal_features = self.init_features.weight[None].expand(n, -1, -1)
        outputs = []
        for stage in self.stages:
            rois = self.pooler(levels, list(boxes.unbind(0)))
            logits, new_boxes, proposal_features = stage(rois, proposal_features, boxes)
            outputs.append({"logits": logits, "boxes": new_boxes, "features": proposal_features})
            # Each stage refines the previous boxes without back-propagating through them.
            boxes = new_boxes.detach()
        return outputs
