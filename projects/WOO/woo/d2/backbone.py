"""WOO's video ResNet as a detectron2 ``Backbone``, in detectron2's ``BACKBONE_REGISTRY``."""
from typing import Dict

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from woo.modeling.backbone import VideoResNet

__all__ = ["VideoResNetBackbone", "build_video_resnet_backbone"]


class VideoResNetBackbone(VideoResNet, Backbone):
    """SlowOnly / SlowFast ResNet with detectron2's ``Backbone`` interface.

    Same modules and state-dict keys as :class:`woo.modeling.VideoResNet`;
    only the output is flattened to detectron2's one-tensor-per-name form:
    ``"res2".."res5"`` are the slow pathway and, for SlowFast,
    ``"res2_fast".."res5_fast"`` the fast pathway, each (N, C, T, H/s, W/s).
    """

    def forward(self, clip: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            clip: normalized frames (N, 3, T, H, W); H and W multiples of 32.
        """
        features = {}
        for name, pathways in super().forward(clip).items():
            features[name] = pathways[0]
            if len(pathways) == 2:
                features[f"{name}_fast"] = pathways[1]
        return features

    def output_shape(self) -> Dict[str, ShapeSpec]:
        shapes = {}
        for name, stage in VideoResNet.output_shape(self).items():
            shapes[name] = ShapeSpec(channels=stage.channels[0], stride=stage.stride)
            if len(stage.channels) == 2:
                shapes[f"{name}_fast"] = ShapeSpec(channels=stage.channels[1], stride=stage.stride)
        return shapes

    @property
    def size_divisibility(self) -> int:
        return 32


@BACKBONE_REGISTRY.register()
def build_video_resnet_backbone(cfg, input_shape: ShapeSpec) -> VideoResNetBackbone:
    """The video ResNet of ``cfg.MODEL.VIDEO_RESNET`` (RGB input)."""
    if input_shape.channels != 3:
        raise ValueError(
            f"build_video_resnet_backbone takes RGB clips (3 channels); got {input_shape.channels} "
            "(the length of MODEL.PIXEL_MEAN)"
        )
    return VideoResNetBackbone.from_config(cfg)
