"""AVA frame-mAP as a detectron2 ``DatasetEvaluator``."""
from collections import OrderedDict
from typing import Dict, List

from detectron2.evaluation import DatasetEvaluator

from woo.engine.evaluator import ActionDetectionEvaluator

__all__ = ["AVAEvaluator"]


class AVAEvaluator(ActionDetectionEvaluator, DatasetEvaluator):
    """Frame-mAP@0.5 of a split, computed exactly as ``woo train`` does.

    :class:`woo.engine.evaluator.ActionDetectionEvaluator` reading the model's
    ``Instances``: the same action scores (``MODEL.WOO.ACTION_SCORE``), the
    same gathering across processes and de-duplication, the same
    ``detections.csv`` and :func:`woo.evaluation.evaluate_predictions`.

    Args:
        dataset_name: a split registered by :mod:`woo.d2.datasets`.
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: ``MODEL.WOO.ACTION_SCORE``.
    """

    def process(self, inputs: List[Dict], outputs: List[Dict]) -> None:
        """
        Args:
            inputs: the mapper's dicts (``video_id``, ``timestamp``).
            outputs: the model's ``{"instances": Instances}`` with ``pred_boxes``
                in pixels of ``Instances.image_size``, ``scores``, ``pred_actions``.
        """
        for inp, out in zip(inputs, outputs):
            instances = out["instances"]
            self.add(inp["video_id"], inp["timestamp"], instances.image_size,
                     instances.pred_boxes.tensor, instances.scores, instances.pred_actions)

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        """
        Returns:
            On the main process ``{"frame_mAP": {"frame_mAP@0.5": mAP, "frame_mAP@0.5_pyslowfast":
            mAP, "AP-<class>": AP, ...}}`` (official protocol unless named; fractions in [0, 1],
            NaN for a class without ground truth); ``{}`` elsewhere.
        """
        result = super().evaluate()
        if not result:
            return OrderedDict()
        metrics = {name: float(result[name]) for name in ("frame_mAP@0.5", "frame_mAP@0.5_pyslowfast")}
        # "-" keeps the per-class entries out of detectron2's one-line summary (as COCO's "AP-<class>").
        metrics.update({f"AP-{name}": float(ap) for name, ap in result["per_class"].items()})
        return OrderedDict(frame_mAP=metrics)
