"""Frame-mAP and video-mAP of JHMDB-21 / UCF101-24, as the ACT evaluation computes them.

The numbers equal those of ``frameAP`` and ``videoAP`` in ``src/ACT.py`` of
the ACT / MOC detectors (Kalogeiton et al. 2017, Li et al. 2020), which most
papers on these datasets report; the equality is checked against numbers that
code produced on random cases with ties (``tests/data/tube_map_golden.json``):

* boxes are pixel-inclusive: a box ``x1..x2`` is ``x2 - x1 + 1`` pixels wide;
* detections are ranked by float32 score; equal scores keep the order (video
  of the split, frame, input order) in which ACT lists them. (ACT ranks with
  numpy's default ``argsort``, which orders ties differently on different
  CPUs; the reference numbers were made with a stable sort, so they do not
  depend on the machine);
* each detection takes the unmatched ground-truth box (tube) of its frame
  (video) with the highest IoU (the first on equal IoU) if that IoU is at
  least the threshold;
* precision and recall are stored in float32, with a first point (1, 0); AP is
  the trapezoidal area under that curve, summed in float32;
* video-mAP first keeps, per video and class, the tubes that a greedy 3D NMS
  at 0.3 spatio-temporal IoU keeps; a tube's IoU with another is the mean
  per-frame IoU over their common frames times temporal IoU.

The mean is over classes with ground truth in the evaluated videos; a class
without any gets AP NaN (ACT cannot score such a class: it divides by zero).
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from woo.formats.eval_details import EvaluationDetails, curve_vertices

__all__ = [
    "VIDEO_MAP_THRESHOLDS",
    "FrameDetections",
    "inclusive_iou",
    "tube_iou",
    "tube_nms",
    "trapezoidal_ap",
    "frame_ap",
    "frame_ap_details",
    "video_ap",
]

# The thresholds averaged in video-mAP@0.5:0.95, computed as ACT computes them.
VIDEO_MAP_THRESHOLDS = tuple(0.5 + 0.05 * i for i in range(10))

# {video: {label: [tube (n, 5+): frame, x1, y1, x2, y2 (, ...)]}}
GroundTruthTubes = Dict[str, Dict[int, List[np.ndarray]]]
# {video: {label: [(tube (n, 5+), score)]}}
DetectedTubes = Dict[str, Dict[int, List[Tuple[np.ndarray, float]]]]


@dataclass
class FrameDetections:
    """Per-frame detections of a split, one row per (box, label).

    Attributes:
        video: (N,) int, index into the evaluated video list.
        frame: (N,) int, 1-based frame number.
        label: (N,) int, 0-based class.
        score: (N,) float32.
        boxes: (N, 4) float32 x1, y1, x2, y2 in pixels.
    """

    video: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    score: np.ndarray
    boxes: np.ndarray

    def __post_init__(self):
        self.video = np.asarray(self.video, dtype=np.int64).reshape(-1)
        self.frame = np.asarray(self.frame, dtype=np.int64).reshape(-1)
        self.label = np.asarray(self.label, dtype=np.int64).reshape(-1)
        self.score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        sizes = {len(self.video), len(self.frame), len(self.label), len(self.score), len(self.boxes)}
        if len(sizes) != 1:
            raise ValueError(f"FrameDetections fields differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.score)

    def sorted_by_frame(self) -> "FrameDetections":
        """Rows ordered by (video, frame), keeping the input order within a frame."""
        order = np.lexsort((self.frame, self.video))
        return FrameDetections(self.video[order], self.frame[order], self.label[order],
                               self.score[order], self.boxes[order])


def inclusive_iou(boxes: np.ndarray, other: np.ndarray) -> np.ndarray:
    """IoU of pixel-inclusive boxes (a box ``x1..x2`` covers ``x2 - x1 + 1`` pixels).

    Args:
        boxes: (..., 4) x1, y1, x2, y2, e.g. (N, 4), or (N, 1, 4) for a pairwise matrix.
        other: (..., 4), broadcast against ``boxes``: (4,), (N, 4) or (1, M, 4).

    Returns:
        the broadcast shape without the last axis ((N,), (N, M)), in the dtype
        numpy's promotion gives the two inputs.
    """
    width = np.maximum(0, np.minimum(boxes[..., 2] + 1, other[..., 2] + 1) - np.maximum(boxes[..., 0], other[..., 0]))
    height = np.maximum(0, np.minimum(boxes[..., 3] + 1, other[..., 3] + 1) - np.maximum(boxes[..., 1], other[..., 1]))
    overlap = width * height
    area = (boxes[..., 2] - boxes[..., 0] + 1) * (boxes[..., 3] - boxes[..., 1] + 1)
    area_other = (other[..., 2] - other[..., 0] + 1) * (other[..., 3] - other[..., 1] + 1)
    return overlap / (area + area_other - overlap)


def tube_iou(tube: np.ndarray, other: np.ndarray):
    """Spatio-temporal IoU of two tubes with consecutive frames.

    Args:
        tube, other: (n, 5+) rows ``frame, x1, y1, x2, y2``, frames consecutive.

    Returns:
        mean per-frame IoU over the common frames x (common frames / frames of either); 0 if disjoint.
    """
    first = max(tube[0, 0], other[0, 0])
    last = min(tube[-1, 0], other[-1, 0])
    if last < first:
        return 0.0
    common = last - first + 1
    span = max(tube[-1, 0], other[-1, 0]) - min(tube[0, 0], other[0, 0]) + 1
    a = tube[int(first - tube[0, 0]): int(last - tube[0, 0]) + 1]
    b = other[int(first - other[0, 0]): int(last - other[0, 0]) + 1]
    if len(a) != len(b) or np.any(a[:, 0] != b[:, 0]):
        raise ValueError("tube_iou needs tubes with consecutive frames")
    return np.mean(inclusive_iou(a[:, 1:5], b[:, 1:5])) * (common / span)


def tube_nms(tubes: Sequence[np.ndarray], scores: np.ndarray, threshold: float) -> List[int]:
    """Greedy NMS of tubes: keep the best, drop those with :func:`tube_iou` above ``threshold``, repeat.

    Returns:
        indices of the kept tubes, best first.
    """
    # Ascending, the best last; of equal scores the one listed last is taken first, as in ACT.
    remaining = np.argsort(np.asarray(scores, dtype=np.float32), kind="stable")
    kept = []
    while remaining.size:
        best = int(remaining[-1])
        kept.append(best)
        rest = remaining[:-1]
        ious = np.array([tube_iou(tubes[i], tubes[best]) for i in rest])
        remaining = rest[ious <= threshold] if rest.size else rest
    return kept


def trapezoidal_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall points by the trapezoid rule, in the points' dtype."""
    return float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) * 0.5))


def _ap_of_ranked(is_tp: np.ndarray, num_gt: int) -> float:
    """AP of ranked detections (``is_tp`` best first) against ``num_gt`` ground truths; NaN if none."""
    return _ap_and_curve(is_tp, num_gt)[0]


def _ap_and_curve(is_tp: np.ndarray, num_gt: int):
    """:func:`_ap_of_ranked`, and the vertices of the precision-recall curve
    (:func:`~woo.formats.eval_details.curve_vertices`, without ACT's first point (1, 0))."""
    if num_gt == 0:
        return float("nan"), np.zeros(0, np.float32), np.zeros(0, np.float32)
    tp = np.cumsum(is_tp, dtype=np.int64)
    rank = np.arange(1, len(is_tp) + 1)
    precision = np.concatenate([[1.0], tp / rank]).astype(np.float32)
    recall = np.concatenate([[0.0], tp / num_gt]).astype(np.float32)
    return (trapezoidal_ap(precision, recall), *curve_vertices(precision[1:], recall[1:], is_tp))


def frame_ap(groundtruth: GroundTruthTubes, videos: Sequence[str], num_classes: int,
             detections: FrameDetections, iou_threshold: float = 0.5) -> np.ndarray:
    """Per-class frame AP.

    Args:
        groundtruth: tubes per video and label; every row of a tube is one ground-truth box.
        videos: the evaluated videos; ``detections.video`` indexes this list.
        num_classes: number of labels.
        detections: per-frame detections.
        iou_threshold: a detection is correct at this IoU or above.

    Returns:
        (C,) float64 AP in [0, 1]; NaN for a class without ground truth.
    """
    return frame_ap_details(groundtruth, videos, [str(c) for c in range(num_classes)], detections,
                            iou_threshold).ap


def frame_ap_details(groundtruth: GroundTruthTubes, videos: Sequence[str], class_names: Sequence[str],
                     detections: FrameDetections, iou_threshold: float = 0.5) -> EvaluationDetails:
    """:func:`frame_ap` with what the evaluation report draws.

    Args:
        class_names: the name of each label (their number is the number of classes).
        Others: as in :func:`frame_ap`.

    Returns:
        per-class AP (``.ap``), precision-recall curves, ground-truth counts and
        the missed (box, label) pairs of each frame with ground truth.
    """
    num_classes = len(class_names)
    detections = detections.sorted_by_frame()
    aps = np.full(num_classes, np.nan)
    num_gt_of, num_det_of = np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64)
    precisions, recalls = [], []
    frame_counts: Dict[Tuple[int, int], List[int]] = {}  # (video, frame) -> [pairs, missed]
    for label in range(num_classes):
        gt: Dict[Tuple[int, int], np.ndarray] = {}
        for index, video in enumerate(videos):
            rows = [row for tube in groundtruth.get(video, {}).get(label, []) for row in tube]
            for row in rows:
                gt.setdefault((index, int(row[0])), []).append(row[1:5])
        # ACT compares detections with float64 ground-truth boxes in frame-mAP.
        gt = {key: np.array(boxes, dtype=np.float64) for key, boxes in gt.items()}
        num_gt = sum(len(boxes) for boxes in gt.values())
        for key, boxes in gt.items():
            frame_counts.setdefault(key, [0, 0])[0] += len(boxes)
        mine = np.flatnonzero(detections.label == label)
        order = mine[np.argsort(-detections.score[mine], kind="stable")]
        is_tp = np.zeros(len(order), dtype=bool)
        for rank, row in enumerate(order):
            key = (int(detections.video[row]), int(detections.frame[row]))
            boxes = gt.get(key)
            if boxes is None:
                continue
            ious = inclusive_iou(boxes, detections.boxes[row])
            best = int(np.argmax(ious))
            if ious[best] >= iou_threshold:
                is_tp[rank] = True
                gt[key] = np.delete(boxes, best, axis=0)
                if not len(gt[key]):
                    del gt[key]
        aps[label], precision, recall = _ap_and_curve(is_tp, num_gt)
        precisions.append(precision)
        recalls.append(recall)
        num_gt_of[label], num_det_of[label] = num_gt, len(order)
        for key, boxes in gt.items():  # what is left was never matched
            frame_counts[key][1] += len(boxes)
    keys = sorted(frame_counts)
    counts = np.array([frame_counts[k] for k in keys], dtype=np.int64).reshape(-1, 2)
    return EvaluationDetails(
        class_names=list(class_names), num_groundtruth=num_gt_of, num_detections=num_det_of, ap=aps,
        precision=precisions, recall=recalls, videos=list(videos),
        frame_video=np.array([k[0] for k in keys], dtype=np.int64),
        frame_time=np.array([k[1] for k in keys], dtype=np.int64),
        frame_pairs=counts[:, 0], frame_missed=counts[:, 1], time_unit="frame",
    )


def video_ap(groundtruth: GroundTruthTubes, videos: Sequence[str], num_classes: int,
             tubes: DetectedTubes, iou_threshold: float, nms_threshold: float = 0.3) -> np.ndarray:
    """Per-class video AP of detected tubes.

    Args:
        groundtruth: tubes per video and label, frames consecutive.
        videos: the evaluated videos (others in ``tubes`` are ignored).
        num_classes: number of labels.
        tubes: ``{video: {label: [(tube (n, 5+), score)]}}``, frames of each tube consecutive.
        iou_threshold: a tube is correct at this spatio-temporal IoU or above.
        nms_threshold: per video and class, tubes are first reduced by :func:`tube_nms` at this IoU.

    Returns:
        (C,) float64 AP in [0, 1]; NaN for a class without ground truth.
    """
    aps = np.full(num_classes, np.nan)
    for label in range(num_classes):
        candidates: List[Tuple[str, np.ndarray]] = []
        scores: List[float] = []
        for video in videos:
            scored = tubes.get(video, {}).get(label, [])
            kept = tube_nms([t for t, _ in scored], np.array([s for _, s in scored], dtype=np.float32), nms_threshold)
            candidates += [(video, scored[i][0]) for i in kept]
            scores += [scored[i][1] for i in kept]
        gt = {v: list(groundtruth[v][label]) for v in videos if groundtruth.get(v, {}).get(label)}
        num_gt = sum(len(g) for g in gt.values())
        order = np.argsort(-np.array(scores, dtype=np.float32), kind="stable")
        is_tp = np.zeros(len(order), dtype=bool)
        for rank, index in enumerate(order):
            video, tube = candidates[index]
            if video not in gt:
                continue
            ious = [tube_iou(g, tube) for g in gt[video]]
            best = int(np.argmax(ious))
            if ious[best] >= iou_threshold:
                is_tp[rank] = True
                del gt[video][best]
                if not gt[video]:
                    del gt[video]
        aps[label] = _ap_of_ranked(is_tp, num_gt)
    return aps
