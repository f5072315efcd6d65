"""Key-frame FPN: a 2D feature pyramid on the key-frame slices of the slow pathway."""
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

__all__ = ["KeyFrameFPN"]


class KeyFrameFPN(FeaturePyramidNetwork):
    """torchvision's FPN on frame ``T_s // 2`` of the slow pathway's stages.

    With ``in_features=("res2", "res3", "res4", "res5")`` this is WOO's key-frame
    FPN (strides 4/8/16/32). With ``("res5",)`` it is the paper's "without FPN"
    ablation: one lateral 1x1 and one 3x3 conv on the (dilated) res5 slice.
    """

    def __init__(self, *, in_features: Sequence[str], in_channels: Sequence[int],
                 strides: Sequence[int], out_channels: int):
        """
        Args:
            in_features: backbone stage names, finest first.
            in_channels: slow-pathway channels of those stages.
            strides: spatial strides of those stages.
            out_channels: channels of every output level.
        """
        if len(set(strides)) != len(strides):
            # Levels are named by stride: two stages of one stride would silently merge into one.
            raise ValueError(
                f"the key-frame FPN needs stages of distinct strides, got {dict(zip(in_features, strides))}: "
                "MODEL.VIDEO_RESNET.RES5_DILATION 2 gives res5 the stride of res4; use it with "
                "MODEL.WOO.USE_FPN False (the paper's no-FPN ablation)"
            )
        super().__init__(list(in_channels), out_channels)
        self.in_features = tuple(in_features)
        self.strides = tuple(strides)
        self.out_channels = out_channels
        self.level_names = tuple(f"p{s.bit_length() - 1}" for s in self.strides)
        # A new layer: Xavier, as the heads (the backbone keeps its Kinetics init).
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    @classmethod
    def from_config(cls, cfg, stage_shapes: Dict) -> Dict:
        """Keyword arguments from ``cfg`` and the video ResNet's ``output_shape()``."""
        names = ("res2", "res3", "res4", "res5") if cfg.MODEL.WOO.USE_FPN else ("res5",)
        return dict(
            in_features=names,
            in_channels=[stage_shapes[n].channels[0] for n in names],
            strides=[stage_shapes[n].stride for n in names],
            out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        )

    def forward(self, features: Dict[str, List[torch.Tensor]]) -> "OrderedDict[str, torch.Tensor]":
        """
        Args:
            features: video ResNet output, {"resK": [slow (N, C, T_s, H, W), ...]}.

        Returns:
            {"p2".."p5"} (or {"p4"}/{"p5"} without FPN), each (N, out_channels, H, W).
        """
        key = OrderedDict()
        for name, level in zip(self.in_features, self.level_names):
            slow = features[name][0]
            key[level] = slow[:, :, slow.shape[2] // 2]
        return super().forward(key)
