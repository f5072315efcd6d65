"""fvcore registries through which configs pick the meta-architecture, backbone and heads.

Names and call conventions are detectron2's, so ``woo.d2`` registers the same
names in detectron2's registries and one config selects the same parts in both engines.
"""
from fvcore.common.registry import Registry

__all__ = ["META_ARCH_REGISTRY", "BACKBONE_REGISTRY", "ROI_HEADS_REGISTRY", "build_backbone", "build_roi_heads"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Registry for meta-architectures: classes whose ``from_config(cfg)`` gives the
``__init__`` keyword arguments. Selected by ``cfg.MODEL.META_ARCHITECTURE``.
"""

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """
Registry for video backbones: ``fn(cfg) -> nn.Module`` whose output follows
:class:`woo.modeling.fpn_backbone.VideoResNetFPN`'s contract. Selected by ``cfg.MODEL.BACKBONE.NAME``.
"""

ROI_HEADS_REGISTRY = Registry("ROI_HEADS")
ROI_HEADS_REGISTRY.__doc__ = """
Registry for the heads on the backbone's features (actor head, action head,
set criterion): classes whose ``from_config(cfg, input_shape)`` gives the
``__init__`` keyword arguments. Selected by ``cfg.MODEL.ROI_HEADS.NAME``.
"""


def build_backbone(cfg):
    """The backbone named by ``cfg.MODEL.BACKBONE.NAME``."""
    return BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg)


def build_roi_heads(cfg, input_shape):
    """The heads named by ``cfg.MODEL.ROI_HEADS.NAME`` on features of ``input_shape`` ({name: ShapeSpec})."""
    cls = ROI_HEADS_REGISTRY.get(cfg.MODEL.ROI_HEADS.NAME)
    return cls(**cls.from_config(cfg, input_shape))
