"""WOO model: backbone, key-frame FPN, actor and action heads, losses, builders."""
from .backbone import VideoResNet, build_backbone, build_video_resnet_backbone
from .kinetics_init import load_kinetics_backbone
from .meta_arch import WOO, build_model
from .registry import BACKBONE_REGISTRY, META_ARCH_REGISTRY

__all__ = [
    "WOO",
    "build_model",
    "build_backbone",
    "build_video_resnet_backbone",
    "VideoResNet",
    "load_kinetics_backbone",
    "META_ARCH_REGISTRY",
    "BACKBONE_REGISTRY",
]
