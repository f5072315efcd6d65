"""detectron2 binding of WOO. Importing it registers, in detectron2's registries:

* META_ARCH "WOO" (:class:`woo.d2.meta_arch.WOO`),
* BACKBONE "build_video_resnet_backbone" (:class:`woo.d2.backbone.VideoResNetBackbone`),
* the datasets ``ava_v2.1_{train,val}``, ``ava_v2.2_{train,val}`` and
  ``woo_synthetic_{train,val}`` in DatasetCatalog / MetadataCatalog.

It also provides the config (:func:`get_cfg`), the mapper, loaders and the
AVA evaluator that ``projects/WOO/train_net.py`` uses.
"""
from . import datasets  # noqa: F401  (registers the splits)
from .backbone import VideoResNetBackbone, build_video_resnet_backbone
from .build import build_clip_test_loader, build_clip_train_loader, get_clip_dataset_dicts
from .checkpoint import AtomicDetectionCheckpointer
from .config import get_cfg
from .evaluator import AVAEvaluator
from .mapper import ClipDatasetMapper
from .meta_arch import WOO

__all__ = [
    "WOO",
    "AtomicDetectionCheckpointer",
    "VideoResNetBackbone",
    "build_video_resnet_backbone",
    "ClipDatasetMapper",
    "AVAEvaluator",
    "get_cfg",
    "get_clip_dataset_dicts",
    "build_clip_train_loader",
    "build_clip_test_loader",
]
