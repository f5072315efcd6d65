"""Set criterion: Hungarian matching, then actor, box and action losses."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torchvision.ops import generalized_box_iou

from .matcher import HungarianMatcher

__all__ = ["SetCriterion", "num_boxes_across_processes", "flat_indices", "gather_matched_targets", "ACTION_LOSSES"]

ACTION_LOSSES = ("bce", "ce")


def num_boxes_across_processes(count: int, device: torch.device) -> float:
    """Ground-truth boxes per process averaged over processes, at least 1."""
    n = torch.as_tensor([float(count)], device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(n)
        n = n / dist.get_world_size()
    return max(n.item(), 1.0)


def gather_matched_targets(targets: List[Dict[str, torch.Tensor]], indices, key: str) -> torch.Tensor:
    """Matched rows of ``targets[i][key]``, concatenated over clips in the order of
    :func:`flat_indices`, as float."""
    return torch.cat([t[key][j.to(t[key].device)] for t, (_, j) in zip(targets, indices)]).float()


def flat_indices(indices, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """A matching (per clip: prediction indices, target indices) -> (clip index, prediction
    index) of every matched prediction, each (M,) int64, to index (N, P, ...) outputs."""
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    return batch_idx.to(device), src_idx.to(device)


class SetCriterion(nn.Module):
    """Weighted WOO losses on matched predictions.

    ``loss_ce``: actor (index 0) / no-actor (index 1) cross entropy over all
    proposals, DETR style: a weighted mean with ``no_actor_weight`` on the
    no-actor class, so clips without actors still give a bounded loss.
    ``loss_bbox`` (L1) and ``loss_giou`` on normalized x1 y1 x2 y2 boxes of
    matched proposals, summed and divided by the number of ground-truth boxes.
    ``loss_action``: with ``action_loss="bce"`` (multi-label) binary cross
    entropy on matched actors' action logits, averaged over classes; with
    ``"ce"`` (one label per actor) softmax cross entropy against each actor's
    label (the argmax of its one-hot row); summed over actors, divided by the
    number of boxes.
    Every ``aux_outputs`` entry is matched on its own and adds ``loss_ce_i``,
    ``loss_bbox_i``, ``loss_giou_i``.
    """

    def __init__(self, *, matcher: HungarianMatcher, class_weight: float = 2.0,
                 l1_weight: float = 5.0, giou_weight: float = 2.0, action_weight: float = 4.0,
                 no_actor_weight: float = 0.1, action_loss: str = "bce"):
        """
        Args:
            matcher: assigns predictions to ground truth.
            class_weight: weight of ``loss_ce``.
            l1_weight: weight of ``loss_bbox``.
            giou_weight: weight of ``loss_giou``.
            action_weight: weight of ``loss_action``.
            no_actor_weight: relative weight of the no-actor class in ``loss_ce``.
            action_loss: "bce" (multi-label) or "ce" (one label per actor).
        """
        super().__init__()
        if action_loss not in ACTION_LOSSES:
            raise ValueError(f"MODEL.WOO.ACTION_LOSS must be one of {ACTION_LOSSES}, got {action_loss!r}")
        self.action_loss = action_loss
        self.matcher = matcher
        self.weights = {"loss_ce": class_weight, "loss_bbox": l1_weight,
                        "loss_giou": giou_weight, "loss_action": action_weight}
        self.register_buffer("class_weights", torch.tensor([1.0, no_actor_weight]), persistent=False)

    def _box_losses(self, outputs: Dict[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]],
                    indices, num_boxes: float) -> Dict[str, torch.Tensor]:
        logits = outputs["logits"]
        n, p = logits.shape[:2]
        batch_idx, src_idx = flat_indices(indices, logits.device)
        target_classes = torch.ones(n, p, dtype=torch.int64, device=logits.device)
        target_classes[batch_idx, src_idx] = 0
        loss_ce = F.cross_entropy(logits.flatten(0, 1).float(), target_classes.flatten(),
                                  weight=self.class_weights)
        src_boxes = outputs["boxes"][batch_idx, src_idx].float()  # (M, 4)
        tgt_boxes = gather_matched_targets(targets, indices, "boxes")
        loss_bbox = F.l1_loss(src_boxes, tgt_boxes, reduction="sum") / num_boxes
        giou = torch.diag(generalized_box_iou(src_boxes, tgt_boxes))
        loss_giou = (1 - giou).sum() / num_boxes
        return {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}

    def _action_loss(self, actions: torch.Tensor, targets, indices, num_boxes: float) -> torch.Tensor:
        batch_idx, src_idx = flat_indices(indices, actions.device)
        src = actions[batch_idx, src_idx].float()  # (M, C)
        tgt = gather_matched_targets(targets, indices, "actions")
        if self.action_loss == "ce":
            if len(tgt) and not torch.all(tgt.sum(dim=1) == 1):
                raise ValueError("MODEL.WOO.ACTION_LOSS 'ce' needs exactly one action per actor; "
                                 "use 'bce' for multi-label data")
            return F.cross_entropy(src, tgt.argmax(dim=1), reduction="sum") / num_boxes
        bce = F.binary_cross_entropy_with_logits(src, tgt, reduction="sum")
        return bce / max(actions.shape[-1], 1) / num_boxes

    def forward(self, outputs: Dict, targets: List[Dict[str, torch.Tensor]],
                num_boxes: Optional[float] = None, indices=None) -> Dict[str, torch.Tensor]:
        """
        Args:
            outputs: "logits" (N, P, 2), "boxes" (N, P, 4) normalized x1 y1 x2 y2,
                "actions" (N, P, C) logits, optional "aux_outputs" list of
                {"logits", "boxes"} of earlier stages.
            targets: per clip, "boxes" (K_i, 4) normalized x1 y1 x2 y2 and
                "actions" (K_i, C) multi-hot.
            num_boxes: normalizer; by default the ground-truth count averaged
                over processes (at least 1).
            indices: the matching of ``outputs`` (not of its auxiliary outputs), where the
                caller has already computed it; by default the matcher's.

        Returns:
            weighted losses: loss_ce, loss_bbox, loss_giou, loss_action, and
            loss_ce_i, loss_bbox_i, loss_giou_i for every auxiliary output i.
        """
        for i, t in enumerate(targets):
            if t["boxes"].shape[0] != t["actions"].shape[0]:
                raise ValueError(f"clip {i}: {t['boxes'].shape[0]} boxes but "
                                 f"{t['actions'].shape[0]} action rows")
        if num_boxes is None:
            num_boxes = num_boxes_across_processes(sum(len(t["boxes"]) for t in targets),
                                                   outputs["logits"].device)
        if indices is None:
            indices = self.matcher(outputs, targets)
        losses = self._box_losses(outputs, targets, indices, num_boxes)
        losses["loss_action"] = self._action_loss(outputs["actions"], targets, indices, num_boxes)
        losses = {k: v * self.weights[k] for k, v in losses.items()}
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses = self._box_losses(aux, targets, self.matcher(aux, targets), num_boxes)
            losses.update({f"{k}_{i}": v * self.weights[k] for k, v in aux_losses.items()})
        return losses
