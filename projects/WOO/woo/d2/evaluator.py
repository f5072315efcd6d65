"""AVA frame-mAP as a detectron2 ``DatasetEvaluator``."""
from collections import OrderedDict
from typing import Dict, List

from detectron2.evaluation import DatasetEvaluator

from woo.engine.evaluator import ActionDetectionEvaluator

__all__ = ["AVAEvaluator"]


class AVAEvaluator(DatasetEvaluator):
    """Frame-mAP@0.5 of a split, computed exactly as ``woo train`` does.

    Detections go back to the core's form and through
    :class:`woo.engine.evaluator.ActionDetectionEvaluator`: the same action
    scores (``MODEL.WOO.ACTION_SCORE``), the same gathering across
    processes and de-duplication, the same ``detections.csv`` and
    :func:`woo.evaluation.evaluate_predictions`.

    Args:
        dataset_name: a split registered by :mod:`woo.d2.datasets`.
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: ``MODEL.WOO.ACTION_SCORE``.
    """

    def __init__(self, dataset_name: str, output_dir: str = "", action_score: str = "actor_x_action"):
        self._evaluator = ActionDetectionEvaluator(dataset_name, output_dir, action_score)

    def reset(self) -> None:
        self._evaluator.reset()

    def process(self, inputs: List[Dict], outputs: List[Dict]) -> None:
        """
        Args:
            inputs: the mapper's dicts (``video_id``, ``timestamp``).
            outputs: the model's ``{"instances": Instances}`` with ``pred_boxes``
                in pixels of ``Instances.image_size``, ``scores``, ``pred_actions``.
        """
        core_inputs, core_outputs = [], []
        for inp, out in zip(inputs, outputs):
            instances = out["instances"]
            core_inputs.append(
                {"video_id": inp["video_id"], "timestamp": inp["timestamp"], "image_size": instances.image_size}
            )
            core_outputs.append(
                {"boxes": instances.pred_boxes.tensor, "scores": instances.scores, "actions": instances.pred_actions}
            )
        self._evaluator.process(core_inputs, core_outputs)

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        """
        Returns:
            On the main process ``{"frame_mAP": {"frame_mAP@0.5": mAP, "frame_mAP@0.5_pyslowfast":
            mAP, "AP-<class>": AP, ...}}`` (official protocol unless named; fractions in [0, 1],
            NaN for a class without ground truth); ``{}`` elsewhere.
        """
        result = self._evaluator.evaluate()
        if not result:
            return OrderedDict()
        metrics = {name: float(result[name]) for name in ("frame_mAP@0.5", "frame_mAP@0.5_pyslowfast")}
        # "-" keeps the per-class entries out of detectron2's one-line summary (as COCO's "AP-<class>").
        metrics.update({f"AP-{name}": float(ap) for name, ap in result["per_class"].items()})
        return OrderedDict(frame_mAP=metrics)
