"""Key-frame FPN: a 2D feature pyramid on the key-frame slices of the slow pathway."""
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

__all__ = ["KeyFrameFPN"]


class KeyFrameFPN(nn.Module):
    """Take frame ``T_s // 2`` of the slow pathway's stages and build a 2D FPN.

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
        super().__init__()
        self.in_features = tuple(in_features)
        self.strides = tuple(strides)
        self.out_channels = out_channels
        self.level_names = tuple(f"p{s.bit_length() - 1}" for s in self.strides)
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels)

    @classmethod
    def from_config(cls, cfg, backbone_shape: Dict) -> "KeyFrameFPN":
        names = ("res2", "res3", "res4", "res5") if cfg.MODEL.WOO.USE_FPN else ("res5",)
        return cls(
            in_features=names,
            in_channels=[backbone_shape[n].channels[0] for n in names],
            strides=[backbone_shape[n].stride for n in names],
            out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        )

    def forward(self, features: Dict[str, List[torch.Tensor]]) -> "OrderedDict[str, torch.Tensor]":
        """
        Args:
            features: backbone output, {"resK": [slow (N, C, T_s, H, W), ...]}.

        Returns:
            {"p2".."p5"} (or {"p4"}/{"p5"} without FPN), each (N, out_channels, H, W).
        """
        key = OrderedDict()
        for name, level in zip(self.in_features, self.level_names):
            slow = features[name][0]
            key[level] = slow[:, :, slow.shape[2] // 2]
        return self.fpn(key)
