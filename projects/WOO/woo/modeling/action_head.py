"""Action classification head on res5 and the actor head's final boxes."""
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from .interaction import InteractionBlock
from .pooler import roi_align_mean_weights

__all__ = ["ActionHead", "FUSIONS"]

FUSIONS = ("cross_attention", "sum", "concat")


class ActionHead(nn.Module):
    """Multi-label action logits for each actor box.

    Spatial features: res5 averaged over time, RoIAlign -> S x S tokens.
    Temporal features: RoIAlign on every frame, averaged over the box -> T tokens.
    Each actor's spatial and temporal embeddings (from its final proposal
    feature) attend to the other actors' embeddings, then generate dynamic 1x1
    layers applied to the matching features; the two results are fused (sum,
    concat or cross-attention) and a linear layer gives the logits.

    Features are projected to ``hidden_dim`` by 1x1 convolutions *before*
    RoIAlign: RoIAlign and averaging are linear, so this equals projecting the
    pooled features, at the cost of one res5 map instead of P x S x S cells.
    """

    def __init__(self, *, in_channels: Sequence[int], stride: int, num_frames: int,
                 hidden_dim: int, num_heads: int, dropout: float, dim_feedforward: int,
                 dim_dynamic: int, num_dynamic: int, pooler_resolution: int,
                 num_actions: int, fusion: str = "cross_attention"):
        """
        Args:
            in_channels: res5 channels per pathway (slow first).
            stride: res5 spatial stride.
            num_frames: common temporal length T of the temporal features (slow T).
            hidden_dim: width d of embeddings and projected features.
            num_heads: attention heads.
            dropout: dropout in attention and FFN.
            dim_feedforward: hidden width of the FFN after fusion.
            dim_dynamic: inner width of the dynamic layers.
            num_dynamic: number of dynamic layers.
            pooler_resolution: spatial RoIAlign output size S.
            num_actions: C action classes.
            fusion: "cross_attention", "sum" or "concat".
        """
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"MODEL.WOO.ACTION_FUSION must be one of {FUSIONS}, got {fusion!r}")
        self.fusion = fusion
        self.spatial_scale = 1.0 / stride
        self.num_frames = num_frames
        self.resolution = pooler_resolution
        self.spatial_proj = nn.Conv2d(sum(in_channels), hidden_dim, 1)
        self.temporal_proj = nn.ModuleList(nn.Conv3d(c, hidden_dim, 1) for c in in_channels)
        common = dict(hidden_dim=hidden_dim, num_heads=num_heads, dropout=dropout,
                      dim_dynamic=dim_dynamic, num_dynamic=num_dynamic)
        # Each actor's spatial and temporal embeddings of its final proposal feature.
        self.spatial_embed = nn.Linear(hidden_dim, hidden_dim)
        self.temporal_embed = nn.Linear(hidden_dim, hidden_dim)
        self.spatial = InteractionBlock(num_tokens=pooler_resolution ** 2, **common)
        self.temporal = InteractionBlock(num_tokens=num_frames, **common)
        if fusion == "cross_attention":
            self.cross_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout,
                                                    batch_first=True)
            self.fusion_norm = nn.LayerNorm(hidden_dim)
        elif fusion == "concat":
            self.concat_proj = nn.Linear(2 * hidden_dim, hidden_dim)
        self.ffn = nn.Sequential(nn.Linear(hidden_dim, dim_feedforward), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(dim_feedforward, hidden_dim))
        self.ffn_norm = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_dim, num_actions)

    @classmethod
    def from_config(cls, cfg, res5_channels: Sequence[int], res5_stride: int) -> Dict:
        """Keyword arguments from ``cfg`` and res5's channels per pathway and stride."""
        w, r = cfg.MODEL.WOO, cfg.MODEL.VIDEO_RESNET
        alpha = r.ALPHA if r.ARCH == "slowfast" else 1
        return dict(in_channels=res5_channels, stride=res5_stride,
                   num_frames=cfg.INPUT.NUM_FRAMES // alpha, hidden_dim=w.HIDDEN_DIM,
                   num_heads=w.NUM_HEADS, dropout=w.DROPOUT, dim_feedforward=w.DIM_FEEDFORWARD,
                   dim_dynamic=w.DIM_DYNAMIC, num_dynamic=w.NUM_DYNAMIC,
                   pooler_resolution=w.ACTION_POOLER_RESOLUTION, num_actions=w.NUM_ACTIONS,
                   fusion=w.ACTION_FUSION)

    @staticmethod
    def _project(proj: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A 1x1(x1) convolution ``proj`` of ``x`` (N, C, ...) as a linear layer on its
        channels-last view: (N, ..., d). The same product; a matrix multiply is the fast
        kernel on the CPU, in fp32 and in bf16, where convolutions of this shape were not."""
        # permute with explicit dims, not movedim: ONNX's Transpose takes no negative dims
        return F.linear(x.permute(0, *range(2, x.dim()), 1), proj.weight.flatten(1), proj.bias)

    def spatial_tokens(self, res5: List[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """res5 [(N, C_p, T_p, H, W)], boxes (N, P, 4) -> (N * P, S * S, d)."""
        fmap = self._project(self.spatial_proj, torch.cat([x.mean(dim=2) for x in res5], dim=1))
        fmap = fmap.permute(0, 3, 1, 2).float().contiguous()  # (N, d, H, W), as RoIAlign reads it
        rois = roi_align(fmap, list(boxes.unbind(0)), self.resolution, self.spatial_scale,
                         sampling_ratio=2, aligned=True)  # (N * P, d, S, S)
        return rois.flatten(2).transpose(1, 2)

    def temporal_tokens(self, res5: List[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """res5 [(N, C_p, T_p, H, W)], boxes (N, P, 4) -> (N * P, T, d).

        Each box's RoIAlign on every frame, averaged over its bins: computed as one
        matrix product of the frames with the box's averaging weights
        (:func:`woo.modeling.pooler.roi_align_mean_weights`), in float32.
        """
        n, p, _ = boxes.shape
        t = self.num_frames
        fmap = 0
        for proj, x in zip(self.temporal_proj, res5):
            x = self._project(proj, x)  # (N, T_p, H, W, d)
            if x.shape[1] != t:  # the fast pathway's alpha * T frames, averaged to the slow T
                # Mean over each run of alpha frames (adaptive pooling has no ONNX form here).
                x = x.unflatten(1, (t, -1)).mean(dim=2)
            fmap = fmap + x  # (N, T, H, W, d)
        h, w, d = fmap.shape[2:]
        weights = roi_align_mean_weights(boxes, self.spatial_scale, h, w, self.resolution, 2)
        with torch.autocast(boxes.device.type, enabled=False):
            # (N, 1, P, H * W) @ (N, T, H * W, d) -> (N, T, P, d)
            pooled = torch.matmul(weights[:, None], fmap.float().reshape(n, t, h * w, d))
        return pooled.transpose(1, 2).reshape(n * p, t, d)

    def forward(self, res5: List[torch.Tensor], boxes: torch.Tensor,
                actor_features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            res5: res5 per pathway, [(N, C_p, T_p, H, W)].
            boxes: (N, P, 4) actor boxes, x1 y1 x2 y2 in padded-input pixels.
            actor_features: (N, P, d) final proposal features of the actor head.

        Returns:
            (N, P, num_actions) action logits.
        """
        if res5[0].shape[2] != self.num_frames:
            raise ValueError(
                f"slow res5 has {res5[0].shape[2]} frames but the action head was built for "
                f"{self.num_frames} (INPUT.NUM_FRAMES / MODEL.VIDEO_RESNET.ALPHA)"
            )
        f_s = self.spatial(self.spatial_embed(actor_features), self.spatial_tokens(res5, boxes))
        f_t = self.temporal(self.temporal_embed(actor_features), self.temporal_tokens(res5, boxes))
        if self.fusion == "sum":
            x = f_s + f_t
        elif self.fusion == "concat":
            x = self.concat_proj(torch.cat([f_s, f_t], dim=2))
        else:  # spatial features of each actor query the temporal features of all actors
            attn = self.cross_attn(f_s, f_t, f_t, need_weights=False)[0]
            x = self.fusion_norm(f_s + self.dropout(attn))
        x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        return self.classifier(x)
