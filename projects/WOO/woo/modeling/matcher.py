"""Hungarian matching between actor predictions and ground-truth boxes."""
from typing import Dict, List, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torchvision.ops import generalized_box_iou

__all__ = ["HungarianMatcher"]


class HungarianMatcher(nn.Module):
    """One-to-one assignment minimizing
    ``cost_class * (-p_actor) + cost_bbox * L1 + cost_giou * (-GIoU)``."""

    def __init__(self, cost_class: float = 2.0, cost_bbox: float = 5.0, cost_giou: float = 2.0):
        """
        Args:
            cost_class: weight of the negative actor probability.
            cost_bbox: weight of the L1 distance of normalized boxes.
            cost_giou: weight of the negative generalized IoU.
        """
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("at least one matching cost must be non-zero")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    @torch.no_grad()
    def forward(self, outputs: Dict[str, torch.Tensor],
                targets: List[Dict[str, torch.Tensor]]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            outputs: "logits" (N, P, 2) actor/no-actor logits, "boxes" (N, P, 4)
                normalized x1 y1 x2 y2.
            targets: per clip, "boxes" (K_i, 4) normalized x1 y1 x2 y2.

        Returns:
            per clip (prediction indices, target indices), int64 of length min(P, K_i).
        """
        n, p = outputs["logits"].shape[:2]
        tgt_boxes = torch.cat([t["boxes"] for t in targets])
        sizes = [len(t["boxes"]) for t in targets]
        if tgt_boxes.numel() == 0:
            empty = torch.empty(0, dtype=torch.int64)
            return [(empty, empty) for _ in targets]
        prob = outputs["logits"].flatten(0, 1).softmax(-1)[:, 0:1]  # (N * P, 1)
        boxes = outputs["boxes"].flatten(0, 1).float()  # (N * P, 4)
        cost = (
            -self.cost_class * prob
            + self.cost_bbox * torch.cdist(boxes, tgt_boxes.float(), p=1)
            - self.cost_giou * generalized_box_iou(boxes, tgt_boxes.float())
        )  # (N * P, sum K)
        cost = cost.view(n, p, -1).cpu()
        if not torch.isfinite(cost).all():  # scipy would only say "invalid numeric entries"
            raise FloatingPointError("non-finite actor predictions (logits or boxes) reached the matcher")
        indices = []
        for i, c in enumerate(cost.split(sizes, dim=-1)):
            rows, cols = linear_sum_assignment(c[i].numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64),
                            torch.as_tensor(cols, dtype=torch.int64)))
        return indices
