"""JHMDB-21 / UCF101-24 frame-mAP and video-mAP as a detectron2 ``DatasetEvaluator``."""
from collections import OrderedDict
from typing import Dict, List

from detectron2.evaluation import DatasetEvaluator

from woo.engine.tube_evaluator import TubeDetectionEvaluator
from woo.evaluation.tube_eval import TUBE_METRICS

__all__ = ["TubeEvaluator"]


class TubeEvaluator(DatasetEvaluator):
    """Frame-mAP@0.5 and video-mAP of a JHMDB / UCF-layout split, computed exactly as ``woo train`` does.

    Detections go back to the core's form and through
    :class:`woo.engine.tube_evaluator.TubeDetectionEvaluator` (same scores,
    gathering, ``detections.csv``, linking and evaluation).

    Args:
        dataset_name: a JHMDB / UCF-layout split registered by :mod:`woo.d2.datasets`.
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: ``MODEL.WOO.ACTION_SCORE``.
        detections_per_frame: ``TEST.DETECTIONS_PER_IMAGE``: (box, class) detections kept per frame.
    """

    def __init__(self, dataset_name: str, output_dir: str = "", action_score: str = "actor_x_action",
                 detections_per_frame: int = 100):
        self._evaluator = TubeDetectionEvaluator(dataset_name, output_dir, action_score=action_score,
                                                 detections_per_frame=detections_per_frame)

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
            On the main process ``{"frame_mAP": {"frame_mAP@0.5", "AP-<class>", ...},
            "video_mAP": {"video_mAP@0.2", ..., "video_mAP@0.5:0.95"}}`` (fractions,
            NaN for a class without ground truth); ``{}`` elsewhere.
        """
        result = self._evaluator.evaluate()
        if not result:
            return OrderedDict()
        frame = {"frame_mAP@0.5": float(result["frame_mAP@0.5"])}
        frame.update({f"AP-{name}": float(ap) for name, ap in result["per_class"].items()})
        video = {key: float(result[key]) for key in TUBE_METRICS if key.startswith("video_mAP")}
        return OrderedDict(frame_mAP=frame, video_mAP=video)
