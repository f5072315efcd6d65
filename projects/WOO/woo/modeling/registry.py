"""fvcore registries through which configs pick the meta-architecture and backbone."""
from fvcore.common.registry import Registry

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Registry for meta-architectures: ``cls(cfg)`` or ``cls.from_config(cfg)`` builds
the whole model. Selected by ``cfg.MODEL.META_ARCHITECTURE``.
"""

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """
Registry for video backbones: ``fn(cfg) -> nn.Module``. Selected by
``cfg.MODEL.BACKBONE.NAME``.
"""
