"""WOO's evaluators as detectron2 ``DatasetEvaluator``: the same figures as ``woo train``."""
from collections import OrderedDict
from typing import Dict, List

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator

from woo.data.ava_dataset import AVASplit
from woo.data.catalog import evaluator_type
from woo.engine.ava_evaluator import AVAEvaluator
from woo.engine.evaluators import build_evaluator as build_core_evaluator
from woo.formats.label_map import read_labelmap

__all__ = ["InstancesEvaluator", "build_evaluator"]


class InstancesEvaluator(DatasetEvaluator):
    """A core evaluator (:class:`woo.engine.ava_evaluator.AVAEvaluator` or
    :class:`woo.engine.tube_evaluator.TubeEvaluator`) reading the model's ``Instances``.

    The scores (``MODEL.WOO.ACTION_SCORE``), the gathering across processes, ``detections.csv``
    and the evaluation are the core evaluator's.

    Args:
        evaluator: the core evaluator of the split.
    """

    def __init__(self, evaluator):
        self._evaluator = evaluator

    @property
    def dataset_name(self) -> str:
        return self._evaluator.dataset_name

    def reset(self) -> None:
        self._evaluator.reset()

    def process(self, inputs: List[Dict], outputs: List[Dict]) -> None:
        """
        Args:
            inputs: the mapper's dicts (``video_id``, ``timestamp``, ``height``, ``width``).
            outputs: ``{"instances": Instances}`` with ``pred_boxes`` in pixels of
                ``Instances.image_size``, ``scores``, ``pred_actions``.
        """
        core_inputs, core_outputs = [], []
        for inp, out in zip(inputs, outputs):
            instances = out["instances"]
            core_inputs.append({"video_id": inp["video_id"], "timestamp": inp["timestamp"],
                                "image_size": instances.image_size, "height": inp["height"], "width": inp["width"]})
            core_outputs.append(
                {"boxes": instances.pred_boxes.tensor, "scores": instances.scores, "actions": instances.pred_actions}
            )
        self._evaluator.process(core_inputs, core_outputs)

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        """
        Returns:
            On the main process ``{"frame_mAP": {"frame_mAP@0.5", ("frame_mAP@0.5_pyslowfast",)
            "AP-<class>", ...}}`` and, for the JHMDB / UCF layout, ``"video_mAP": {"video_mAP@0.2",
            ..., "video_mAP@0.5:0.95"}`` (fractions, NaN for a class without ground truth; per-class
            AP of the official protocol); ``{}`` elsewhere.
        """
        result = self._evaluator.evaluate()
        if not result:
            return OrderedDict()
        frame = {k: float(v) for k, v in result.items() if k.startswith("frame_mAP@")}
        # "-" keeps the per-class entries out of detectron2's one-line summary (as COCO's "AP-<class>").
        frame.update({f"AP-{name}": float(ap) for name, ap in result["per_class"].items()})
        groups = OrderedDict(frame_mAP=frame)
        video = {k: float(v) for k, v in result.items() if k.startswith("video_mAP@")}
        if video:
            groups["video_mAP"] = video
        return groups


def _metadata_split(dataset_name: str) -> AVASplit:
    """The files that evaluate a split registered in detectron2 alone (``DatasetCatalog.register``
    with its own records), named by its metadata."""
    meta = MetadataCatalog.get(dataset_name)
    if getattr(meta, "evaluator_type", "ava") != "ava" or not hasattr(meta, "groundtruth_csv"):
        raise KeyError(f"dataset {dataset_name!r} is not a WOO split; to evaluate a split registered in "
                       "detectron2's DatasetCatalog, set its MetadataCatalog entry's evaluator_type='ava', "
                       "groundtruth_csv (AVA CSV) and label_map (pbtxt), or register it with "
                       "woo.data.register_dataset")
    label_map = meta.get("label_map", None) or meta.get("eval_label_map", None)
    if label_map is None:
        raise KeyError(f"dataset {dataset_name!r}: its MetadataCatalog entry names no label_map (pbtxt)")
    return AVASplit(name=dataset_name, frames_dir="", frame_list="", annotations=meta.groundtruth_csv,
                    label_map=label_map, eval_label_map=meta.get("eval_label_map", None) or label_map,
                    exclusions=meta.get("exclusions", None),
                    num_actions=meta.get("num_actions", None) or max(read_labelmap(label_map)[1]))


def build_evaluator(cfg, dataset_name: str, output_dir: str = "") -> InstancesEvaluator:
    """The evaluator ``woo train`` uses for split ``dataset_name`` (the one dispatch,
    :func:`woo.engine.evaluators.build_evaluator`), reading ``Instances``. A split registered in
    detectron2 alone is evaluated as an AVA-layout split from its metadata's ``groundtruth_csv``,
    ``label_map`` (``eval_label_map``, ``exclusions`` if set)."""
    try:
        evaluator_type(dataset_name)
    except KeyError:
        return InstancesEvaluator(AVAEvaluator(_metadata_split(dataset_name), output_dir,
                                               action_score=cfg.MODEL.WOO.ACTION_SCORE))
    return InstancesEvaluator(build_core_evaluator(cfg, dataset_name, output_dir))
