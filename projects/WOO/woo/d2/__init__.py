"""detectron2 binding of WOO. Importing it registers, in detectron2's registries:

* META_ARCH "WOO" (:class:`woo.d2.meta_arch.WOO`),
* BACKBONE "build_video_resnet_fpn_backbone" (:class:`woo.d2.backbone.VideoResNetFPNBackbone`),
* ROI_HEADS "WOOROIHeads" (:class:`woo.d2.roi_heads.WOOROIHeads`: actor head, action head, set criterion),
* the datasets ``ava_v2.1_{train,val}``, ``ava_v2.2_{train,val}`` and
  ``woo_synthetic_{train,val}`` in DatasetCatalog / MetadataCatalog.

It also provides the config (:func:`get_cfg`), the mapper, loaders, the
evaluators that ``projects/WOO/train_net.py`` uses (:func:`build_evaluator`), and the
drawing of action detections (:func:`draw_action_instances`).
"""
from . import datasets  # noqa: F401  (registers the splits)
from .backbone import VideoResNetFPNBackbone, build_video_resnet_fpn_backbone
from .build import build_clip_test_loader, build_clip_train_loader, get_clip_dataset_dicts
from .checkpoint import AtomicDetectionCheckpointer
from .config import get_cfg
from .evaluator import InstancesEvaluator, build_evaluator
from .mapper import ClipDatasetMapper
from .meta_arch import WOO
from .roi_heads import WOOROIHeads
from .visualizer import draw_action_instances

__all__ = [
    "WOO",
    "WOOROIHeads",
    "AtomicDetectionCheckpointer",
    "VideoResNetFPNBackbone",
    "build_video_resnet_fpn_backbone",
    "ClipDatasetMapper",
    "InstancesEvaluator",
    "build_evaluator",
    "get_cfg",
    "get_clip_dataset_dicts",
    "build_clip_train_loader",
    "build_clip_test_loader",
    "draw_action_instances",
]
