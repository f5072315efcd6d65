"""The WOO model as detectron2's META_ARCH "WOO", with detectron2's inputs and outputs."""
from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.structures import Boxes, Instances

from woo.modeling import load_kinetics_backbone
from woo.modeling.meta_arch import WOO as CoreWOO

__all__ = ["WOO"]


@META_ARCH_REGISTRY.register()
class WOO(CoreWOO):
    """:class:`woo.modeling.WOO` speaking detectron2.

    A subclass, not a wrapper, so the state-dict keys are the core model's and
    a checkpoint of ``woo train`` and one of ``train_net.py`` load in either.

    Inputs: the dicts of :class:`woo.d2.ClipDatasetMapper` (``clip``,
    ``image_size``, ``height``, ``width`` and in training ``instances`` with
    ``gt_boxes`` (K, 4) pixels of the clip and ``gt_actions`` (K, C)); the
    core's ``gt_boxes`` / ``gt_actions`` keys are accepted as well.
    Outputs: training, the core's loss dict; inference, per clip
    ``{"instances": Instances}`` at the requested ``height`` x ``width`` with
    ``pred_boxes`` (Boxes), ``scores`` (N,) actor scores and ``pred_actions``
    (N, C) action probabilities.
    """

    @configurable
    def __init__(self, *, pretrained_backbone: str = "", **parts):
        """
        Args:
            pretrained_backbone: local Kinetics checkpoint loaded into the backbone ("" for none).
            parts: the arguments of :class:`woo.modeling.WOO`.
        """
        super().__init__(**parts)
        if pretrained_backbone:
            load_kinetics_backbone(self, pretrained_backbone)

    @classmethod
    def from_config(cls, cfg) -> Dict:
        return {**super().from_config(cfg), "pretrained_backbone": cfg.MODEL.VIDEO_RESNET.PRETRAINED}

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: per clip {"clip": (3, T, H, W) 0..255 RGB, "image_size": (H, W),
                optional "height"/"width" of the output, in training "instances"}.

        Returns:
            training: dict of weighted losses; inference: [{"instances": Instances}].
        """
        inputs = [_core_input(d) for d in batched_inputs]
        if self.training:
            return super().forward(inputs)
        results = super().forward(inputs)
        processed = []
        for d, result in zip(inputs, results):
            clip_size = tuple(int(v) for v in d.get("image_size", d["clip"].shape[-2:]))
            height, width = d.get("height", clip_size[0]), d.get("width", clip_size[1])
            processed.append({"instances": _to_instances(result, clip_size, int(height), int(width))})
        return processed


def _core_input(d: Dict) -> Dict:
    """detectron2 input dict -> the core's: ``instances`` become ``gt_boxes`` / ``gt_actions``."""
    if "instances" not in d:
        return d
    instances = d["instances"]
    core = {k: v for k, v in d.items() if k != "instances"}
    core["gt_boxes"] = instances.gt_boxes.tensor
    core["gt_actions"] = instances.gt_actions
    core.setdefault("image_size", instances.image_size)
    return core


def _to_instances(result: Dict[str, torch.Tensor], clip_size: Tuple[int, int], height: int, width: int) -> Instances:
    """Core result in pixels of the clip -> Instances in pixels of ``height`` x ``width``.

    Unlike detectron2's ``detector_postprocess``, boxes that become empty are
    kept, so the detections are exactly those ``woo train`` evaluates.
    """
    boxes = Boxes(result["boxes"].clone())
    boxes.scale(width / clip_size[1], height / clip_size[0])
    boxes.clip((height, width))
    return Instances((height, width), pred_boxes=boxes, scores=result["scores"], pred_actions=result["actions"])
