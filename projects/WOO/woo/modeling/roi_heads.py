"""WOO's heads on the backbone features: actor head, action head and set criterion."""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .action_head import ActionHead
from .actor_head import ActorLocalizationHead
from .criterion import SetCriterion, flat_indices, gather_matched_targets
from .matcher import HungarianMatcher
from .registry import ROI_HEADS_REGISTRY

__all__ = ["WOOROIHeads", "ACTION_TRAIN_BOXES", "matched_ground_truth_boxes"]

# What the action head pools in training (MODEL.WOO.ACTION_TRAIN_BOXES).
ACTION_TRAIN_BOXES = ("predicted", "ground_truth")


def matched_ground_truth_boxes(boxes: torch.Tensor, targets: List[Dict[str, torch.Tensor]], indices,
                               whwh: torch.Tensor) -> torch.Tensor:
    """A copy of ``boxes`` (N, P, 4) in pixels where every matched proposal's row is its
    ground-truth box: ``targets[i]["boxes"]`` (K_i, 4) normalized, times ``whwh`` (N, 1, 4)."""
    batch_idx, src_idx = flat_indices(indices, boxes.device)
    boxes = boxes.clone()
    matched = gather_matched_targets(targets, indices, "boxes").to(boxes.device)
    boxes[batch_idx, src_idx] = (matched * whwh[batch_idx, 0]).to(boxes.dtype)
    return boxes


@ROI_HEADS_REGISTRY.register()
class WOOROIHeads(nn.Module):
    """Actor boxes from the key-frame levels, action logits from res5, and the losses.

    Reads the backbone outputs named in :class:`woo.modeling.fpn_backbone.VideoResNetFPN`:
    every ``"p<k>"`` level for the actor head, ``"res5"`` (and ``"res5_fast"``)
    for the action head.
    """

    def __init__(self, *, actor_head: ActorLocalizationHead, action_head: ActionHead,
                 criterion: SetCriterion, actor_in_features: Sequence[str],
                 action_in_features: Sequence[str], deep_supervision: bool = True,
                 action_train_boxes: str = "predicted"):
        """
        Args:
            actor_head: proposals refined into actor boxes and scores.
            action_head: action logits of the final boxes.
            criterion: training losses.
            actor_in_features: key-frame levels of the actor head, finest first.
            action_in_features: video features of the action head, slow pathway first.
            deep_supervision: add the losses of every earlier actor-head stage.
            action_train_boxes: the boxes the action head pools in training: "predicted" (the
                final stage's, as the paper) or "ground_truth" (each matched proposal's
                ground-truth box; unmatched proposals keep their predicted boxes).
        """
        super().__init__()
        if action_train_boxes not in ACTION_TRAIN_BOXES:
            raise ValueError(f"MODEL.WOO.ACTION_TRAIN_BOXES must be one of {ACTION_TRAIN_BOXES}, "
                             f"got {action_train_boxes!r}")
        self.action_train_boxes = action_train_boxes
        self.actor_head = actor_head
        self.action_head = action_head
        self.criterion = criterion
        self.actor_in_features = tuple(actor_in_features)
        self.action_in_features = tuple(action_in_features)
        self.deep_supervision = deep_supervision
        self.num_actions = action_head.classifier.out_features
        # Set by woo.runtime.inference_modes (MODEL.INFERENCE.HEADS_PRECISION "fp32"): at
        # inference the heads run in float32 with autocast off, under a bf16/fp16 backbone.
        self.float32_inference = False
        # New layers start from Xavier; the learnable proposals from the whole frame.
        for module in (actor_head, action_head):
            for p in module.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        actor_head.reset_proposals()

    @classmethod
    def from_config(cls, cfg, input_shape: Dict) -> Dict:
        """Keyword arguments from ``cfg`` and the backbone's ``output_shape()`` ({name: ShapeSpec})."""
        w = cfg.MODEL.WOO
        levels = sorted((n for n in input_shape if re.fullmatch(r"p\d+", n)), key=lambda n: input_shape[n].stride)
        if not levels or "res5" not in input_shape:
            raise ValueError(
                f"backbone {cfg.MODEL.BACKBONE.NAME!r} gives {sorted(input_shape)}; the WOO heads need "
                "key-frame levels 'p<k>' and 'res5' (see projects/WOO/README.md, backbone contract)"
            )
        bad = [n for n in levels if input_shape[n].channels != w.HIDDEN_DIM]
        if bad:
            raise ValueError(
                f"key-frame levels {bad} have {input_shape[bad[0]].channels} channels "
                f"(MODEL.FPN.OUT_CHANNELS) but MODEL.WOO.HIDDEN_DIM is {w.HIDDEN_DIM}: "
                "RoI features meet proposal features"
            )
        action_in = [n for n in ("res5", "res5_fast") if n in input_shape]
        matcher = HungarianMatcher(cost_class=w.CLASS_WEIGHT, cost_bbox=w.L1_WEIGHT, cost_giou=w.GIOU_WEIGHT)
        criterion = SetCriterion(matcher=matcher, class_weight=w.CLASS_WEIGHT, l1_weight=w.L1_WEIGHT,
                                 giou_weight=w.GIOU_WEIGHT, action_weight=w.ACTION_WEIGHT,
                                 no_actor_weight=w.NO_ACTOR_WEIGHT, action_loss=w.ACTION_LOSS)
        res5_channels = [input_shape[n].channels for n in action_in]
        return dict(
            actor_head=ActorLocalizationHead(**ActorLocalizationHead.from_config(cfg, levels)),
            action_head=ActionHead(**ActionHead.from_config(cfg, res5_channels, input_shape["res5"].stride)),
            criterion=criterion,
            actor_in_features=levels,
            action_in_features=action_in,
            deep_supervision=w.DEEP_SUPERVISION,
            action_train_boxes=w.ACTION_TRAIN_BOXES,
        )

    def forward(self, features: Dict[str, torch.Tensor], image_sizes: torch.Tensor,
                padded_size: Tuple[int, int], targets: Optional[List[Dict[str, torch.Tensor]]] = None):
        """
        Args:
            features: backbone outputs by name.
            image_sizes: (N, 2) unpadded (H, W) of each clip.
            padded_size: (H, W) of the padded batch.
            targets: in training, per clip "boxes" (K, 4) normalized x1 y1 x2 y2 and "actions" (K, C).

        Returns:
            training: dict of weighted losses. Inference: actor/no-actor logits
            (N, P, 2), boxes (N, P, 4) in pixels, action logits (N, P, C).
        """
        if self.float32_inference and not self.training:
            names = self.actor_in_features + self.action_in_features
            with torch.autocast(image_sizes.device.type, enabled=False):
                return self._forward({n: features[n].float() for n in names}, image_sizes, padded_size, targets)
        return self._forward(features, image_sizes, padded_size, targets)

    def _forward(self, features, image_sizes, padded_size, targets):
        stages = self.actor_head({n: features[n] for n in self.actor_in_features}, image_sizes, padded_size)
        final = stages[-1]
        action_features = [features[n] for n in self.action_in_features]
        if not self.training:
            action_logits = self.action_head(action_features, final["boxes"].detach(), final["features"])
            return final["logits"], final["boxes"], action_logits
        whwh = image_sizes.flip(1).repeat(1, 2).to(torch.float32)[:, None]  # (N, 1, 4)
        outputs = {"logits": final["logits"], "boxes": final["boxes"] / whwh}
        action_boxes, indices = final["boxes"].detach(), None
        if self.action_train_boxes == "ground_truth":
            indices = self.criterion.matcher(outputs, targets)
            action_boxes = matched_ground_truth_boxes(action_boxes, targets, indices, whwh)
        outputs["actions"] = self.action_head(action_features, action_boxes, final["features"])
        if self.deep_supervision:
            outputs["aux_outputs"] = [{"logits": s["logits"], "boxes": s["boxes"] / whwh} for s in stages[:-1]]
        return self.criterion(outputs, targets, indices=indices)
