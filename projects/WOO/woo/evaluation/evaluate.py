"""Entry points of the AVA frame-mAP evaluation: from files or from predictions."""
import functools
import logging
from typing import Dict, Optional, Sequence

import numpy as np

from woo.formats.ava_annotations import read_exclusions
from woo.formats.ava_box_csv import AVABoxRows, read_box_csv
from woo.formats.label_map import read_labelmap

from .detections import predictions_to_rows
from .frame_map import CAPACITY, PROTOCOLS, _heap_candidates, frame_map

__all__ = ["METRIC_NAMES", "evaluate_csv", "evaluate_predictions", "evaluate_rows"]

logger = logging.getLogger(__name__)

# Result keys of each protocol: (mean AP, per-class AP).
METRIC_NAMES = {
    "official": ("frame_mAP@0.5", "per_class"),
    "pyslowfast": ("frame_mAP@0.5_pyslowfast", "per_class_pyslowfast"),
}
# Lines named in a warning about bad rows.
_LINES_SHOWN = 5


def evaluate_csv(labelmap: str, groundtruth: str, detections: str, exclusions: Optional[str] = None,
                 protocol: str = "official", *, also: Sequence[str] = (), keep_details: bool = False) -> Dict:
    """Frame-mAP@0.5 of an AVA detection CSV under one protocol.

    Args:
        labelmap: ``.pbtxt`` of the evaluated classes.
        groundtruth: ground-truth CSV.
        detections: detection CSV (``video_id, timestamp, x1, y1, x2, y2, action_id, score``).
        exclusions: optional CSV of excluded ``video_id, timestamp``.
        protocol: "official" (ActivityNet, top 50 detections per key frame) or
            "pyslowfast" (every row, in file order); see :mod:`.frame_map`.
        also: further protocols computed on the same rows.
        keep_details: also return ``"details"``, ``{protocol: EvaluationDetails}``
            (see :mod:`woo.formats.eval_details`), what the evaluation report draws.

    Returns:
        The protocol's entries of :data:`METRIC_NAMES`, e.g. ``{"frame_mAP@0.5":
        float, "per_class": {name: AP}}``; classes without ground truth have AP
        NaN and do not enter the mean.

    Raises:
        ValueError: naming file and line of a malformed row or a non-finite
            score, or naming a ground-truth file without evaluated boxes.
    """
    protocols = tuple(dict.fromkeys((protocol, *also)))
    for name in protocols:
        if name not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {name!r}")
    categories, class_ids = read_labelmap(labelmap)
    # Under the official protocol only rows that can change a key frame's capped heap are kept
    # while reading; PySlowFast's needs every row.
    select = functools.partial(_heap_candidates, capacity=CAPACITY) if protocols == ("official",) else None
    rows = read_box_csv(detections, class_ids, select=select, finite_scores=True)
    _warn_person_ids(detections, groundtruth, rows.score)
    return evaluate_rows(rows, groundtruth, categories, class_ids, exclusions, source=detections,
                         protocols=protocols, keep_details=keep_details)


def evaluate_predictions(predictions: Sequence[Dict], groundtruth_csv: str, labelmap: str,
                         exclusions: Optional[str] = None, protocols: Sequence[str] = PROTOCOLS,
                         keep_details: bool = False, empty_key_frames: bool = False) -> Dict:
    """Frame-mAP@0.5 of in-memory predictions, under both protocols by default.

    The result equals :func:`evaluate_csv` on the file
    :func:`~woo.evaluation.write_detections_csv` would write, had it kept every
    digit.

    Args:
        predictions: ``[{"video_id": str, "timestamp": int, "boxes": (N, 4)
            normalized x1y1x2y2, "scores": (N, C) action scores, column j =
            action id j + 1}]``.
        groundtruth_csv, labelmap, exclusions: as in :func:`evaluate_csv`.
        protocols: the protocols to compute.
        keep_details: as in :func:`evaluate_csv`.
        empty_key_frames: the split has key frames without actors by design (the synthetic
            set): detections there are expected and only logged, not warned about.

    Returns:
        The entries of :data:`METRIC_NAMES` of each protocol (and ``"details"``).
    """
    categories, class_ids = read_labelmap(labelmap)
    rows = predictions_to_rows(predictions, class_ids)
    bad = np.flatnonzero(~np.isfinite(rows.score))
    if len(bad):
        raise ValueError(f"predictions: {len(bad)} action scores are not finite (NaN or infinite), the first "
                         f"of key frame {rows.keys[rows.key[bad[0]]]}")
    return evaluate_rows(rows, groundtruth_csv, categories, class_ids, exclusions, source="predictions",
                         protocols=protocols, keep_details=keep_details, empty_key_frames=empty_key_frames)


def evaluate_rows(detections: AVABoxRows, groundtruth: str, categories, class_ids,
                  exclusions: Optional[str] = None, source: str = "detections",
                  protocols: Sequence[str] = PROTOCOLS, keep_details: bool = False,
                  empty_key_frames: bool = False) -> Dict:
    """Frame-mAP@0.5 of detection rows against a ground-truth CSV; logs what was left out.

    Key frames with detections and no ground truth are warned about, unless
    ``empty_key_frames`` says the split has key frames without actors by design (then logged).

    Returns:
        The entries of :data:`METRIC_NAMES` of each protocol in ``protocols``, and
        with ``keep_details`` ``"details"``: ``{protocol: EvaluationDetails}``.
    """
    gt = read_box_csv(groundtruth, class_ids)
    if len(gt.key) == 0:
        raise ValueError(f"{groundtruth}: no ground-truth box of a class in the label map "
                         f"({sum(gt.skipped.values())} rows of other classes); nothing to evaluate")
    excluded = read_exclusions(exclusions) if exclusions else set()
    _report_exclusions(exclusions, excluded, gt)
    _report_box_problems(groundtruth, gt, "ground-truth", degenerate=False)
    _report_box_problems(source, detections, "detection", degenerate=True)
    if detections.skipped:
        # Expected on AVA: models predict 80 classes, the label map evaluates 60.
        logger.info("%s: %d detection rows of %d action ids outside the label map are not evaluated", source,
                    sum(detections.skipped.values()), len(detections.skipped))
    if gt.skipped:
        logger.info("%s: %d ground-truth rows of classes outside the label map are not evaluated",
                    groundtruth, sum(gt.skipped.values()))
    if len(detections.key) == 0:
        logger.warning("%s: no detection of a class in the label map; frame-mAP is 0.0", source)
    result, details = {}, {}
    for protocol in protocols:
        scored = frame_map(gt, detections, categories, excluded, groundtruth_name=groundtruth, protocol=protocol)
        mean_name, per_class_name = METRIC_NAMES[protocol]
        result[mean_name], result[per_class_name] = scored["mAP"], scored["per_class"]
        details[protocol] = scored["details"]
    if keep_details:
        result["details"] = details
    unmatched = scored["num_unmatched_frames"]
    if len(detections.key) and unmatched and empty_key_frames:
        logger.info("%s: %d key frames without actors (the split has them by design) have detections; they "
                    "count as false positives", source, unmatched)
    elif len(detections.key) and unmatched:
        logger.warning("%s: %d key frames with detections have no ground truth; their detections count as "
                       "false positives (expected only where the split has key frames without actors, as the "
                       "synthetic set's empty key frames)", source, unmatched)
    return result


def _warn_person_ids(detections: str, groundtruth: str, score: np.ndarray) -> None:
    """Scores that are all whole numbers are the last column of a ground-truth file, a person id
    (rows without a score, which count as 1.0, are left alone)."""
    if len(score) and np.all(score == np.round(score)) and np.any(score != 1.0):
        logger.warning("%s: every score is a whole number (%s): that column looks like the person id of a "
                       "ground-truth file; are --groundtruth %s and --detections %s swapped?", detections,
                       ", ".join(f"{v:g}" for v in np.unique(score)[:4]) + (", ..." if len(np.unique(score)) > 4
                                                                          else ""), groundtruth, detections)


def _report_exclusions(path: Optional[str], excluded, gt: AVABoxRows) -> None:
    """Warn about exclusions naming videos the ground truth does not have (a file of another split?)."""
    videos = {video for video, _ in gt.keys}
    absent = sorted({video for video, _ in excluded} - videos)
    if absent:
        rows = sum(video in absent for video, _ in excluded)
        logger.warning("%s: %d excluded key frames of %d videos absent from the ground truth (e.g. %r); "
                       "they exclude nothing", path, rows, len(absent), absent[0])


def _report_box_problems(path: str, rows: AVABoxRows, what: str, degenerate: bool) -> None:
    """Count and name the rows whose boxes the official evaluator takes without a word.

    Args:
        degenerate: also report boxes with ``x1 >= x2`` or ``y1 >= y2`` (detections,
            which the evaluators drop; a ground-truth box with ``x1 > x2`` is an error
            when a detection meets it).
    """
    x1, y1, x2, y2 = rows.boxes.T
    with np.errstate(invalid="ignore"):
        problems = {
            "have coordinates outside 0..1 (pixels instead of normalized coordinates?)":
                ((rows.boxes < 0) | (rows.boxes > 1)).any(axis=1),
        }
        if degenerate:
            problems["have x1 >= x2 or y1 >= y2 (not scored, as in the official evaluator)"] = \
                ~((x1 < x2) & (y1 < y2))
    for why, mask in problems.items():
        bad = np.flatnonzero(mask)
        if len(bad):
            lines = ", ".join(str(line) for line in rows.line[bad[:_LINES_SHOWN]].tolist())
            more = ", ..." if len(bad) > _LINES_SHOWN else ""
            logger.warning("%s: %d %s rows %s: lines %s%s", path, len(bad), what, why, lines, more)
