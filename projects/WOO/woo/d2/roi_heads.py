"""WOO's heads in detectron2's ``ROI_HEADS_REGISTRY``."""
from detectron2.config import configurable
from detectron2.modeling import ROI_HEADS_REGISTRY

from woo.modeling.roi_heads import WOOROIHeads as CoreWOOROIHeads

__all__ = ["WOOROIHeads"]


@ROI_HEADS_REGISTRY.register()
class WOOROIHeads(CoreWOOROIHeads):
    """:class:`woo.modeling.WOOROIHeads`, built by ``build_roi_heads(cfg, input_shape)``."""

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
