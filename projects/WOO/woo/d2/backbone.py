"""WOO's video ResNet + key-frame FPN as a detectron2 ``Backbone``, in ``BACKBONE_REGISTRY``."""
from typing import Dict

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from woo.modeling.fpn_backbone import VideoResNetFPN

__all__ = ["VideoResNetFPNBackbone", "build_video_resnet_fpn_backbone"]


class VideoResNetFPNBackbone(VideoResNetFPN, Backbone):
    """:class:`woo.modeling.VideoResNetFPN` with detectron2's ``Backbone`` interface.

    Same modules, state-dict keys and outputs ("p2".."p5" key-frame levels,
    "res5" and for SlowFast "res5_fast"); only ``output_shape`` speaks
    detectron2's ``ShapeSpec``.
    """

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {name: ShapeSpec(channels=s.channels, stride=s.stride)
                for name, s in VideoResNetFPN.output_shape(self).items()}


@BACKBONE_REGISTRY.register()
def build_video_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> VideoResNetFPNBackbone:
    """The backbone of ``cfg.MODEL.VIDEO_RESNET`` and ``cfg.MODEL.FPN`` (RGB input)."""
    if input_shape.channels != 3:
        raise ValueError(
            f"build_video_resnet_fpn_backbone takes RGB clips (3 channels); got {input_shape.channels} "
            "(the length of MODEL.PIXEL_MEAN)"
        )
    return VideoResNetFPNBackbone(**VideoResNetFPNBackbone.from_config(cfg))
