"""Entry points of the AVA frame-mAP evaluation: from files or from predictions."""
import functools
import logging
from typing import Dict, Optional, Sequence

from .ava_io import read_exclusions, read_labelmap
from .box_csv import AVABoxRows, read_box_csv
from .detections import predictions_to_rows
from .frame_map import CAPACITY, _heap_candidates, frame_map

__all__ = ["evaluate_csv", "evaluate_predictions", "evaluate_rows"]

logger = logging.getLogger(__name__)


def evaluate_csv(labelmap: str, groundtruth: str, detections: str, exclusions: Optional[str] = None) -> Dict:
    """Frame-mAP@0.5 of an AVA detection CSV, as the official ActivityNet evaluator computes it.

    Args:
        labelmap: ``.pbtxt`` of the evaluated classes.
        groundtruth: ground-truth CSV.
        detections: detection CSV (``video_id, timestamp, x1, y1, x2, y2, action_id, score``).
        exclusions: optional CSV of excluded ``video_id, timestamp``.

    Returns:
        ``{"mAP": float, "per_class": {name: AP}}``; classes without ground
        truth have AP NaN and do not enter the mean.
    """
    categories, class_ids = read_labelmap(labelmap)
    # Only rows that can change a key frame's capped heap are kept while reading.
    rows = read_box_csv(detections, class_ids, select=functools.partial(_heap_candidates, capacity=CAPACITY))
    return evaluate_rows(rows, groundtruth, categories, class_ids, exclusions, source=detections)


def evaluate_predictions(predictions: Sequence[Dict], groundtruth_csv: str, labelmap: str,
                         exclusions: Optional[str] = None) -> Dict:
    """Frame-mAP@0.5 of in-memory predictions.

    The result equals :func:`evaluate_csv` on the file
    :func:`~woo.evaluation.write_detections_csv` would write, had it kept every
    digit.

    Args:
        predictions: ``[{"video_id": str, "timestamp": int, "boxes": (N, 4)
            normalized x1y1x2y2, "scores": (N, C) action scores, column j =
            action id j + 1}]``.
        groundtruth_csv, labelmap, exclusions: as in :func:`evaluate_csv`.

    Returns:
        As :func:`evaluate_csv`.
    """
    categories, class_ids = read_labelmap(labelmap)
    rows = predictions_to_rows(predictions, class_ids)
    return evaluate_rows(rows, groundtruth_csv, categories, class_ids, exclusions, source="predictions")


def evaluate_rows(detections: AVABoxRows, groundtruth: str, categories, class_ids,
                  exclusions: Optional[str] = None, source: str = "detections") -> Dict:
    """Frame-mAP@0.5 of detection rows against a ground-truth CSV; logs what was left out."""
    gt = read_box_csv(groundtruth, class_ids)
    excluded = read_exclusions(exclusions) if exclusions else set()
    if detections.skipped:
        logger.warning("%s: %d detection rows with action ids outside the label map are not evaluated "
                       "(rows per id: %s)", source, sum(detections.skipped.values()), detections.skipped)
    if gt.skipped:
        logger.info("%s: %d ground-truth rows of classes outside the label map are not evaluated",
                    groundtruth, sum(gt.skipped.values()))
    result = frame_map(gt, detections, categories, excluded, groundtruth_name=groundtruth)
    if result["num_unmatched_frames"]:
        logger.warning("%s: %d key frames with detections have no ground truth; their detections count as "
                       "false positives", source, result["num_unmatched_frames"])
    return {"mAP": result["mAP"], "per_class": result["per_class"]}
