"""WOO model: video backbone with key-frame FPN, actor and action heads, losses, builders."""
from .backbone import ShapeSpec, VideoResNet
from .fpn_backbone import VideoResNetFPN, build_video_resnet_fpn_backbone
from .kinetics_init import load_kinetics_backbone
from .meta_arch import WOO, build_model
from .registry import BACKBONE_REGISTRY, META_ARCH_REGISTRY, ROI_HEADS_REGISTRY, build_backbone, build_roi_heads
from .roi_heads import WOOROIHeads

__all__ = [
    "WOO",
    "WOOROIHeads",
    "build_model",
    "build_backbone",
    "build_roi_heads",
    "build_video_resnet_fpn_backbone",
    "ShapeSpec",
    "VideoResNet",
    "VideoResNetFPN",
    "load_kinetics_backbone",
    "META_ARCH_REGISTRY",
    "BACKBONE_REGISTRY",
    "ROI_HEADS_REGISTRY",
]
