"""The WOO model as detectron2's META_ARCH "WOO", with detectron2's parts, inputs and outputs."""
from typing import Dict, List

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_roi_heads
from detectron2.structures import Boxes, Instances

from woo.modeling import load_kinetics_backbone
from woo.modeling.meta_arch import WOO as CoreWOO

__all__ = ["WOO"]


@META_ARCH_REGISTRY.register()
class WOO(CoreWOO):
    """:class:`woo.modeling.WOO` built from detectron2's registries, speaking detectron2.

    The backbone is ``detectron2.modeling.build_backbone(cfg)``
    (``MODEL.BACKBONE.NAME``), the heads ``build_roi_heads(cfg, shape)``
    (``MODEL.ROI_HEADS.NAME``). With the default names these are the core's
    modules, so the state-dict keys are the core model's and a checkpoint of
    ``woo train`` and one of ``train_net.py`` load in either.

    Inputs: the dicts of :class:`woo.d2.ClipDatasetMapper` (``clip``,
    ``image_size``, optional ``height`` / ``width`` and in training
    ``instances`` with ``gt_boxes`` (K, 4) pixels of the clip and ``gt_actions`` (K, C)).
    Outputs: training, the loss dict; inference, per clip ``{"instances": Instances}``
    at ``height`` x ``width`` with ``pred_boxes``, ``scores`` (M,) actor scores
    and ``pred_actions`` (M, C) action probabilities.
    """

    @configurable
    def __init__(self, *, pretrained_backbone: str = "", **kwargs):
        """
        Args:
            pretrained_backbone: local Kinetics checkpoint loaded into the backbone ("" for none).
            kwargs: the arguments of :class:`woo.modeling.WOO`.
        """
        super().__init__(**kwargs)
        if pretrained_backbone:
            load_kinetics_backbone(self, pretrained_backbone)

    @classmethod
    def from_config(cls, cfg) -> Dict:
        return {**super().from_config(cfg), "pretrained_backbone": cfg.MODEL.VIDEO_RESNET.PRETRAINED}

    @classmethod
    def build_backbone(cls, cfg):
        return build_backbone(cfg)

    @classmethod
    def build_roi_heads(cls, cfg, input_shape):
        return build_roi_heads(cfg, input_shape)

    def ground_truth(self, index: int, d: Dict):
        if "instances" not in d:
            raise KeyError(f"input {index}: training needs 'instances' (gt_boxes, gt_actions)")
        instances = d["instances"]
        return instances.gt_boxes.tensor, instances.gt_actions

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: per clip {"clip": (3, T, H, W) 0..255 RGB, "image_size": (H, W),
                optional "height"/"width" of the output, in training "instances"}.

        Returns:
            training: dict of weighted losses; inference: [{"instances": Instances}].
        """
        results = super().forward(batched_inputs)
        if self.training:
            return results
        processed = []
        for d, result in zip(batched_inputs, results):
            clip_h, clip_w = (int(v) for v in d.get("image_size", d["clip"].shape[-2:]))
            height, width = int(d.get("height", clip_h)), int(d.get("width", clip_w))
            # Unlike detector_postprocess, boxes that become empty are kept, so the
            # detections are exactly those ``woo train`` evaluates.
            boxes = Boxes(result["boxes"].clone())
            boxes.scale(width / clip_w, height / clip_h)
            boxes.clip((height, width))
            instances = Instances((height, width), pred_boxes=boxes, scores=result["scores"],
                                  pred_actions=result["actions"])
            processed.append({"instances": instances})
        return processed
