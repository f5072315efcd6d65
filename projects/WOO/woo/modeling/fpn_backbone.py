"""WOO's default backbone: the video ResNet with the key-frame FPN, and its output contract."""
from typing import Dict

import torch
from torch import nn

from .backbone import ShapeSpec, VideoResNet
from .key_frame_fpn import KeyFrameFPN
from .registry import BACKBONE_REGISTRY

__all__ = ["VideoResNetFPN", "build_video_resnet_fpn_backbone"]


class VideoResNetFPN(nn.Module):
    """Video ResNet (``bottom_up``) + key-frame FPN (``fpn``).

    Output contract of every WOO backbone (what the ROI heads read):

    * ``"p<k>"``: key-frame pyramid levels for the actor head, (N, d, H / 2^k, W / 2^k);
    * ``"res5"``: slow-pathway res5 for the action head, (N, C, T_s, H / s, W / s);
    * ``"res5_fast"`` (SlowFast only): fast-pathway res5, (N, C_f, T, H / s, W / s).
    """

    def __init__(self, *, bottom_up: VideoResNet, fpn: KeyFrameFPN):
        super().__init__()
        self.bottom_up = bottom_up
        self.fpn = fpn

    @classmethod
    def from_config(cls, cfg) -> Dict:
        bottom_up = VideoResNet(**VideoResNet.from_config(cfg))
        fpn = KeyFrameFPN(**KeyFrameFPN.from_config(cfg, bottom_up.output_shape()))
        return {"bottom_up": bottom_up, "fpn": fpn}

    @property
    def size_divisibility(self) -> int:
        return 32

    def output_shape(self) -> Dict[str, ShapeSpec]:
        shapes = {level: ShapeSpec(self.fpn.out_channels, stride)
                  for level, stride in zip(self.fpn.level_names, self.fpn.strides)}
        res5 = self.bottom_up.output_shape()["res5"]
        for name, channels in zip(("res5", "res5_fast"), res5.channels):
            shapes[name] = ShapeSpec(channels, res5.stride)
        return shapes

    def forward(self, clip: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            clip: normalized frames (N, 3, T, H, W); H and W multiples of 32.

        Returns:
            the named outputs of :meth:`output_shape` (see the class docstring).
        """
        stages = self.bottom_up(clip)
        features = dict(self.fpn(stages))
        for name, x in zip(("res5", "res5_fast"), stages["res5"]):
            features[name] = x
        return features


@BACKBONE_REGISTRY.register()
def build_video_resnet_fpn_backbone(cfg) -> VideoResNetFPN:
    """The backbone of ``cfg.MODEL.VIDEO_RESNET`` and ``cfg.MODEL.FPN``."""
    return VideoResNetFPN(**VideoResNetFPN.from_config(cfg))
