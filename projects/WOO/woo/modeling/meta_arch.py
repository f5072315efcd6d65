"""WOO meta-architecture: one video backbone for actor localization and action
classification (key-frame FPN + Sparse R-CNN style actor head + action head)."""
import logging
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from woo.formats.boxes import boxes_to_unit

from . import fpn_backbone as _fpn_backbone  # noqa: F401  (register the default backbone and heads)
from .inputs import check_batched_inputs
from .kinetics_init import load_kinetics_backbone
from .registry import META_ARCH_REGISTRY, build_backbone, build_roi_heads

__all__ = ["WOO", "build_model", "ACTION_SCORES", "detection_scores"]

# How a (box, action) detection is scored; see MODEL.WOO.ACTION_SCORE.
ACTION_SCORES = ("action", "actor_x_action")


def detection_scores(actions: torch.Tensor, actor_scores: torch.Tensor, action_score: str) -> torch.Tensor:
    """Score of each (actor, action) detection, as ``MODEL.WOO.ACTION_SCORE`` says.

    Args:
        actions: (M, C) action probabilities.
        actor_scores: (M,) actor probabilities.
        action_score: "action" (the action probability) or "actor_x_action" (times the actor
            score: the chance that there is an actor *and* it does the action).

    Returns:
        (M, C) float32 on the CPU.
    """
    if action_score not in ACTION_SCORES:
        raise ValueError(f"MODEL.WOO.ACTION_SCORE must be one of {ACTION_SCORES}, got {action_score!r}")
    scores = actions.detach().float().cpu()
    if action_score == "actor_x_action":
        scores = scores * actor_scores.detach().float().cpu()[:, None]
    return scores

logger = logging.getLogger(__name__)


def _check_config(cfg) -> None:
    w, r = cfg.MODEL.WOO, cfg.MODEL.VIDEO_RESNET
    if w.HIDDEN_DIM % w.NUM_HEADS:
        raise ValueError(f"MODEL.WOO.HIDDEN_DIM ({w.HIDDEN_DIM}) must be divisible by "
                         f"MODEL.WOO.NUM_HEADS ({w.NUM_HEADS})")
    if r.ARCH == "slowfast" and cfg.INPUT.NUM_FRAMES % r.ALPHA:
        raise ValueError(f"INPUT.NUM_FRAMES ({cfg.INPUT.NUM_FRAMES}) must be a multiple of "
                         f"MODEL.VIDEO_RESNET.ALPHA ({r.ALPHA}) for SlowFast")
    if not 0.0 <= w.SCORE_THRESH_TEST < 1.0:
        raise ValueError(f"MODEL.WOO.SCORE_THRESH_TEST must be in [0, 1), got {w.SCORE_THRESH_TEST}")
    if w.ACTION_SCORE not in ACTION_SCORES:
        raise ValueError(f"MODEL.WOO.ACTION_SCORE must be one of {ACTION_SCORES}, got {w.ACTION_SCORE!r}")
    if w.MIN_DETECTIONS_PER_CLIP < 0:
        raise ValueError(f"MODEL.WOO.MIN_DETECTIONS_PER_CLIP must be >= 0, got {w.MIN_DETECTIONS_PER_CLIP}")
    for key in ("NUM_PROPOSALS", "NUM_STAGES", "NUM_ACTIONS"):
        if w[key] < 1:
            raise ValueError(f"MODEL.WOO.{key} must be >= 1, got {w[key]}")
    if not w.USE_FPN and r.RES5_DILATION != 2:
        logger.warning("MODEL.WOO.USE_FPN is False with MODEL.VIDEO_RESNET.RES5_DILATION %d; "
                       "the paper's ablation uses dilation 2", r.RES5_DILATION)


@META_ARCH_REGISTRY.register()
class WOO(nn.Module):
    """Watch Only Once: end-to-end actor detection and action classification.

    Input: a list of clip dicts (see the model contract); output: a dict of
    weighted losses in training, and one result dict per clip at inference.
    """

    def __init__(self, *, backbone: nn.Module, roi_heads: nn.Module, pixel_mean, pixel_std,
                 num_frames: int, score_thresh: float = 0.7, detections_per_clip: int = 100,
                 min_detections_per_clip: int = 0, action_loss: str = "bce",
                 size_divisibility: int = 32):
        """
        Args:
            backbone: ``forward(clip) -> {name: tensor}`` with key-frame levels "p<k>"
                and "res5" (see :class:`woo.modeling.fpn_backbone.VideoResNetFPN`).
            roi_heads: actor head, action head and criterion on the backbone features
                (see :class:`woo.modeling.roi_heads.WOOROIHeads`).
            pixel_mean: per-channel RGB mean in 0..255.
            pixel_std: per-channel RGB std in 0..255.
            num_frames: frames T every input clip must have.
            score_thresh: keep actors whose actor score is above this at inference.
            detections_per_clip: at most this many actors per clip at inference.
            min_detections_per_clip: at least this many (the top-scoring) actors per
                clip at inference, whatever their score.
            action_loss: "bce" (action probabilities by sigmoid) or "ce" (by softmax).
            size_divisibility: pad height and width to a multiple of this.
        """
        super().__init__()
        self.backbone = backbone
        self.roi_heads = roi_heads
        self.num_frames = num_frames
        self.score_thresh = score_thresh
        self.detections_per_clip = detections_per_clip
        self.min_detections_per_clip = min_detections_per_clip
        self.action_loss = action_loss
        self.size_divisibility = max(int(size_divisibility), 1)
        # Set by woo.runtime.inference_modes (channels-last inference): the normalized clips
        # are written in the layout (C last) that the backbone's convolutions read.
        self.channels_last_input = False
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg) -> Dict:
        """Keyword arguments of ``__init__`` from ``cfg`` (detectron2's ``@configurable`` convention)."""
        _check_config(cfg)
        w = cfg.MODEL.WOO
        backbone = cls.build_backbone(cfg)
        return dict(
            backbone=backbone,
            roi_heads=cls.build_roi_heads(cfg, backbone.output_shape()),
            pixel_mean=cfg.MODEL.PIXEL_MEAN,
            pixel_std=cfg.MODEL.PIXEL_STD,
            num_frames=cfg.INPUT.NUM_FRAMES,
            score_thresh=w.SCORE_THRESH_TEST,
            detections_per_clip=cfg.TEST.DETECTIONS_PER_IMAGE,
            min_detections_per_clip=w.MIN_DETECTIONS_PER_CLIP,
            action_loss=w.ACTION_LOSS,
            size_divisibility=getattr(backbone, "size_divisibility", 32),
        )

    @classmethod
    def build_backbone(cls, cfg) -> nn.Module:
        """``cfg.MODEL.BACKBONE.NAME`` from woo's registry (woo.d2 overrides: detectron2's)."""
        return build_backbone(cfg)

    @classmethod
    def build_roi_heads(cls, cfg, input_shape: Dict) -> nn.Module:
        """``cfg.MODEL.ROI_HEADS.NAME`` from woo's registry (woo.d2 overrides: detectron2's)."""
        return build_roi_heads(cfg, input_shape)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess(self, batched_inputs: List[Dict]):
        """Normalize and zero-pad the clips into one batch.

        Returns:
            clips (N, 3, T, H_pad, W_pad) float, image_sizes (N, 2) int64 unpadded (H, W).
        """
        check_batched_inputs(batched_inputs, self.num_frames)
        clips, sizes = [], []
        for i, d in enumerate(batched_inputs):
            clip = torch.as_tensor(d["clip"])  # (3, T, H, W), checked above
            h, w = (int(v) for v in d.get("image_size", clip.shape[-2:]))
            if h > clip.shape[2] or w > clip.shape[3]:
                raise ValueError(f"input {i}: image_size {(h, w)} exceeds clip {tuple(clip.shape)}")
            clips.append(clip)
            sizes.append((h, w))
        div = self.size_divisibility
        max_h = -(-max(c.shape[2] for c in clips) // div) * div
        max_w = -(-max(c.shape[3] for c in clips) // div) * div
        # Padding after normalization: zeros are the mean colour. F.pad, not writes into
        # a zero tensor, so that a traced graph (woo export) reads the input clip. Each
        # pass over a clip costs (45 MB at 32 x 256 x 480): no copy that is not needed,
        # channels-last from the start when the backbone reads it, no stack for one clip.
        padded = []
        for c in clips:
            c = c.to(self.device, torch.float32, non_blocking=True)
            pad_h, pad_w = max_h - c.shape[2], max_w - c.shape[3]
            if self.channels_last_input:  # computed as (T, H, W, 3): NTHWC once permuted back
                x = torch.sub(c.permute(1, 2, 3, 0), self.pixel_mean.view(-1),
                              out=c.new_empty(c.shape[1:] + c.shape[:1]))
                x = x.div_(self.pixel_std.view(-1))
                x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h)) if pad_h or pad_w else x
                x = x.permute(3, 0, 1, 2)
            else:
                x = (c - self.pixel_mean).div_(self.pixel_std)
                x = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
            padded.append(x)
        batch = padded[0][None] if len(padded) == 1 else torch.stack(padded)
        return batch, torch.tensor(sizes, device=self.device)

    def ground_truth(self, index: int, d: Dict):
        """Ground-truth boxes (K, 4) in pixels and actions (K, C) of input ``index``."""
        if "gt_boxes" not in d or "gt_actions" not in d:
            raise KeyError(f"input {index}: training needs 'gt_boxes' and 'gt_actions'")
        return d["gt_boxes"], d["gt_actions"]

    def _targets(self, batched_inputs: List[Dict], image_sizes: torch.Tensor) -> List[Dict]:
        targets = []
        for i, (d, (h, w)) in enumerate(zip(batched_inputs, image_sizes.tolist())):
            boxes, actions = self.ground_truth(i, d)
            boxes = torch.as_tensor(boxes, dtype=torch.float32, device=self.device)
            actions = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
            num_actions = self.roi_heads.num_actions
            if boxes.dim() != 2 or boxes.shape[1] != 4 or actions.shape != (len(boxes), num_actions):
                raise ValueError(f"input {i}: 'gt_boxes' must be (K, 4) and 'gt_actions' (K, "
                                 f"{num_actions}), got {tuple(boxes.shape)} and {tuple(actions.shape)}")
            targets.append({"boxes": boxes_to_unit(boxes, h, w), "actions": actions})
        return targets

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: per clip {"clip": (3, T, H, W) 0..255 RGB, "image_size": (H, W),
                and in training "gt_boxes" (K, 4) pixels, "gt_actions" (K, C) multi-hot}.

        Returns:
            training: dict of weighted losses.
            inference: per clip {"boxes" (N, 4) pixels, "scores" (N,), "actions" (N, C)}.
        """
        clips, image_sizes = self.preprocess(batched_inputs)
        features = self.backbone(clips)
        padded_size = tuple(clips.shape[-2:])
        if self.training:
            return self.roi_heads(features, image_sizes, padded_size, self._targets(batched_inputs, image_sizes))
        logits, boxes, action_logits = self.roi_heads(features, image_sizes, padded_size)
        return self.inference(logits, boxes, action_logits, image_sizes)

    def inference(self, logits: torch.Tensor, boxes: torch.Tensor, action_logits: torch.Tensor,
                  image_sizes: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        """
        Args:
            logits: (N, P, 2) actor/no-actor logits.
            boxes: (N, P, 4) pixels.
            action_logits: (N, P, C).
            image_sizes: (N, 2) unpadded (H, W).

        Returns:
            per clip {"boxes" (M, 4) clipped to the clip, "scores" (M,) actor
            probabilities, best first, "actions" (M, C) sigmoid (softmax with the "ce"
            action loss)}: the actors above score_thresh, at least
            min_detections_per_clip of them, at most detections_per_clip.
        """
        scores = logits.float().softmax(-1)[..., 0]
        action_logits = action_logits.float()
        actions = action_logits.softmax(-1) if self.action_loss == "ce" else action_logits.sigmoid()
        order = scores.argsort(dim=1, descending=True)  # (N, P)
        # Rank r keeps its actor if above the threshold or among the first min_detections.
        ranked = torch.gather(scores, 1, order)
        rank = torch.arange(scores.shape[1], device=scores.device)
        kept = (ranked > self.score_thresh) | (rank < self.min_detections_per_clip)
        kept = kept & (rank < self.detections_per_clip)  # not &=: ONNX has no in-place and
        results = []
        for s, b, a, o, k, (h, w) in zip(scores, boxes.float(), actions, order, kept, image_sizes):
            keep = o[k]
            b = torch.stack([b[keep, 0].clamp(0, w), b[keep, 1].clamp(0, h),
                             b[keep, 2].clamp(0, w), b[keep, 3].clamp(0, h)], dim=1)
            results.append({"boxes": b, "scores": s[keep], "actions": a[keep]})
        return results


def build_model(cfg) -> nn.Module:
    """Build ``cfg.MODEL.META_ARCHITECTURE`` on ``cfg.MODEL.DEVICE``; load the Kinetics
    backbone from ``cfg.MODEL.VIDEO_RESNET.PRETRAINED`` when set."""
    cls = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    model = cls(**cls.from_config(cfg))
    model.to(torch.device(cfg.MODEL.DEVICE))
    if cfg.MODEL.VIDEO_RESNET.PRETRAINED:
        load_kinetics_backbone(model, cfg.MODEL.VIDEO_RESNET.PRETRAINED)
    return model
