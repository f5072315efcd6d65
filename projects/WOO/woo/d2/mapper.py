"""A detectron2 dataset mapper for WOO's key-frame records."""
from typing import Callable, Dict

from detectron2.config import configurable
from detectron2.structures import Boxes, Instances

from woo.data.mapper import ClipMapper

__all__ = ["ClipDatasetMapper"]


class ClipDatasetMapper:
    """Key-frame record -> detectron2 model input, for ``build_detection_{train,test}_loader``.

    Delegates decoding, resizing and flipping to ``woo train``'s
    :class:`woo.data.mapper.ClipMapper` (so ``INPUT.KEY_FRAME_ONLY`` holds here too, and the clip's
    channels follow ``INPUT.FORMAT``, "RGB" or "BGR", as in detectron2's ``DatasetMapper``) and puts
    the ground truth in detectron2's place: in
    training an ``instances`` field (``Instances`` of the clip size with
    ``gt_boxes`` (K, 4) pixels and ``gt_actions`` (K, C) multi-hot); at test
    time, like detectron2's ``DatasetMapper``, no ground truth.
    """

    @configurable
    def __init__(self, is_train: bool, *, clip_mapper: Callable[[Dict], Dict]):
        """
        Args:
            is_train: attach the ground truth.
            clip_mapper: record -> the core's input dict (a ``ClipMapper``).
        """
        self.is_train = is_train
        self.clip_mapper = clip_mapper

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> Dict:
        return {"is_train": is_train, "clip_mapper": ClipMapper.from_config(cfg, is_train)}

    def __call__(self, record: Dict) -> Dict:
        """
        Args:
            record: one dict of :func:`woo.data.catalog.load_dataset_dicts` (not modified).

        Returns:
            {"clip" (3, T, H, W) uint8, "image_size", "height", "width", "video_id",
            "timestamp"} and in training "instances".
        """
        d = self.clip_mapper(record)
        gt_boxes, gt_actions = d.pop("gt_boxes"), d.pop("gt_actions")
        if self.is_train:
            d["instances"] = Instances(d["image_size"], gt_boxes=Boxes(gt_boxes), gt_actions=gt_actions)
        return d
