"""Frame-mAP of AVA action detections under two protocols, each numerically
identical to its reference:

* ``"official"``: the ActivityNet evaluator (``get_ava_performance.py`` of March
  2019, the version with exclusions and the 50-detections cap);
* ``"pyslowfast"``: PySlowFast's ``ava_eval_helper.py``, used by WOO's
  successors (EVAD, STMixer): the same matching and AP, but every row of a key
  frame is kept, in file order, for ground truth and detections alike.

Rules of the official protocol, including how ties are broken:

* per key frame, detections pass through a min-heap of capacity 50 holding
  ``(score, action_id, y1, x1, y2, x2)`` tuples (replacement only on a strictly
  higher score) and are then stably sorted by descending score; ground truth
  goes through the same heap without a cap (its 8th column, the person id,
  plays the score);
* detections with ``x1 >= x2`` or ``y1 >= y2`` are dropped after the cap;
* per class, each detection in that order matches the ground truth of highest
  IoU (first on ties, NaN counts as highest); it is a true positive if that IoU
  is ``>= 0.5`` and the ground truth is not matched yet;
* per class, the per-frame arrays are concatenated in the order frames first
  appear in the detection file and sorted with numpy's default (unstable)
  ``argsort``; AP is VOC all-point; classes without ground truth get NaN and the
  mean is ``np.nanmean`` over an array indexed by class id.

Rows that cannot change a key frame's heap are left out first (see
``_heap_candidates``). The heap is simulated in Python only for key frames
where it can change the result: a score tie at the cap boundary, two selected
detections of one class with equal scores, or a NaN score. Elsewhere a
vectorized top-50 is identical.

The PySlowFast protocol skips the heap: each key frame's ground truth and
detections are matched in the order of their rows in the file; detections with
``x1 >= x2`` or ``y1 >= y2`` are dropped, per-class arrays are concatenated in
the order frames first appear and AP is computed as above.
"""
import heapq
import logging
from typing import Dict, List, Sequence, Set, Tuple

import numpy as np

from woo.formats.ava_box_csv import AVABoxRows
from woo.formats.eval_details import EvaluationDetails, curve_vertices

__all__ = ["PROTOCOLS", "frame_map", "average_precision"]

logger = logging.getLogger(__name__)

# Detections kept per key frame by the official evaluator.
CAPACITY = 50
# The evaluation protocols: the official ActivityNet evaluator and PySlowFast's.
PROTOCOLS = ("official", "pyslowfast")


def frame_map(groundtruth: AVABoxRows, detections: AVABoxRows, categories: Sequence[Dict],
              excluded_keys: Set[Tuple[str, int]] = frozenset(), capacity: int = CAPACITY,
              iou_threshold: float = 0.5, groundtruth_name: str = "ground truth",
              protocol: str = "official") -> Dict:
    """Frame-mAP at an IoU threshold.

    Args:
        groundtruth: ground-truth rows (already restricted to evaluated classes).
        detections: detection rows in file order (already restricted likewise).
        categories: ``[{"id", "name"}]`` of the label map.
        excluded_keys: ``(video_id, timestamp)`` key frames left out entirely.
        capacity: detections kept per key frame, across classes (official protocol).
        iou_threshold: minimum IoU of a true positive.
        groundtruth_name: file name used in error messages.
        protocol: one of :data:`PROTOCOLS`.

    Returns:
        ``{"mAP": float, "per_class": {name: AP}}`` (NaN for classes without
        ground truth), plus ``"num_detections"`` (after the cap and the box
        check) and ``"num_unmatched_frames"`` (detected key frames without
        ground truth; their detections are false positives), and ``"details"``:
        the :class:`~woo.formats.eval_details.EvaluationDetails` of the matching
        (precision-recall curves, ground-truth counts, missed pairs per key frame).

    Raises:
        ValueError: on class ids below 1, or a ground-truth box with
            ``x1 > x2`` or ``y1 > y2`` that a detection is compared with (the
            official code fails there too).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if min(cat["id"] for cat in categories) < 1:
        raise ValueError("class ids must be >= 1")
    num_classes = max(cat["id"] for cat in categories)
    if protocol == "official":
        gt_key, gt_action, gt_boxes, gt_lines = _official_groundtruth(groundtruth, excluded_keys)
        det_key, det_action, det_score, det_boxes = _official_detections(detections, excluded_keys, capacity)
    else:
        gt_key, gt_action, gt_boxes, gt_lines = _file_order_groundtruth(groundtruth, excluded_keys)
        det_key, det_action, det_score, det_boxes = _file_order_detections(detections, excluded_keys)

    # Detections and ground truth meet in the ground truth's key numbering; -1 = none.
    gt_index = {key: i for i, key in enumerate(groundtruth.keys)}
    det_to_gt = np.array([gt_index.get(key, -1) for key in detections.keys] or [0], dtype=np.int64)
    det_gt_key = det_to_gt[det_key]
    tp, gt_matched = _match(det_gt_key, det_action, det_boxes, gt_key, gt_action, gt_boxes, iou_threshold,
                gt_lines, groundtruth_name)

    num_gt = np.bincount(gt_action, minlength=num_classes + 1)[1:num_classes + 1]
    ap = np.full(num_classes, np.nan)
    starts = np.searchsorted(det_action, np.arange(1, num_classes + 2))
    curves = {}
    for c in np.flatnonzero(num_gt):
        lo, hi = starts[c], starts[c + 1]
        ap[c], *curves[c] = _average_precision_and_curve(det_score[lo:hi], tp[lo:hi], int(num_gt[c]))
    with np.errstate(invalid="ignore"):
        mean_ap = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return {
        "mAP": mean_ap,
        "per_class": {cat["name"]: float(ap[cat["id"] - 1]) for cat in categories},
        "num_detections": int(len(det_score)),
        "num_unmatched_frames": int(len(np.unique(det_key[det_gt_key < 0]))),
        "details": _details(categories, groundtruth, num_gt, np.diff(starts), ap, curves, gt_key, gt_matched),
    }


def _details(categories, groundtruth: AVABoxRows, num_gt, num_det, ap, curves, gt_key, gt_matched):
    """The :class:`EvaluationDetails` of one matching; arrays indexed by class id - 1 or by ground-truth pair."""
    empty = np.zeros(0, np.float32)
    ids = [cat["id"] - 1 for cat in categories]
    pairs = np.bincount(gt_key, minlength=len(groundtruth.keys))
    missed = np.bincount(gt_key[~gt_matched], minlength=len(groundtruth.keys))
    frames = np.flatnonzero(pairs)
    videos = sorted({video for video, _ in groundtruth.keys})
    video_index = {video: i for i, video in enumerate(videos)}
    return EvaluationDetails(
        class_names=[cat["name"] for cat in categories],
        num_groundtruth=num_gt[ids],
        num_detections=num_det[ids],
        ap=ap[ids],
        precision=[curves[i][0] if i in curves else empty for i in ids],
        recall=[curves[i][1] if i in curves else empty for i in ids],
        videos=videos,
        frame_video=np.array([video_index[groundtruth.keys[k][0]] for k in frames], dtype=np.int64),
        frame_time=np.array([groundtruth.keys[k][1] for k in frames], dtype=np.int64),
        frame_pairs=pairs[frames],
        frame_missed=missed[frames],
        time_unit="second",
    )


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP of one class, with the official code's exact operations.

    Args:
        scores: ``(N,)`` float64 detection scores, in the official concatenation
            order (it decides how numpy's unstable argsort breaks ties).
        tp: ``(N,)`` bool, true positives.
        num_gt: number of ground-truth instances (> 0).
    """
    return _average_precision_and_curve(scores, tp, num_gt)[0]


def _average_precision_and_curve(scores: np.ndarray, tp: np.ndarray, num_gt: int):
    """:func:`average_precision`, and the vertices of the ranked precision-recall
    curve (:func:`~woo.formats.eval_details.curve_vertices`) it integrates.

    Returns:
        AP, precision ``(n,)`` and recall ``(n,)`` float32.
    """
    if len(scores) == 0:
        return 0.0, np.zeros(0, np.float32), np.zeros(0, np.float32)
    order = np.argsort(scores)[::-1]
    tp_sorted = tp.astype(int)[order]
    cum_tp = np.cumsum(tp_sorted)
    cum_fp = np.cumsum(1 - tp_sorted)
    precision = cum_tp.astype(float) / (cum_tp + cum_fp)
    recall = cum_tp.astype(float) / num_gt
    curve = curve_vertices(precision, recall, tp_sorted.astype(bool))
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    indices = np.where(recall[1:] != recall[:-1])[0] + 1
    return (float(np.sum((recall[indices] - recall[indices - 1]) * precision[indices])), *curve)


def _official_order(entries: List[Tuple], capacity: int) -> List[Tuple]:
    """The official per-key-frame heap (capacity < 1: unbounded), then a stable sort by -score."""
    heap: List[Tuple] = []
    for entry in entries:
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    return sorted(heap, key=lambda entry: -entry[0])


def _not_excluded(rows: AVABoxRows, excluded_keys: Set[Tuple[str, int]]) -> np.ndarray:
    excluded = [i for i, key in enumerate(rows.keys) if key in excluded_keys]
    return ~np.isin(rows.key, excluded)


def _tuples_by_key(rows: AVABoxRows, index: np.ndarray):
    """Yield ``(key, [(score, action_id, y1, x1, y2, x2, line)])`` in file order per key."""
    if len(index) == 0:
        return
    index = index[np.argsort(rows.key[index], kind="stable")]
    keys = rows.key[index]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    x1, y1, x2, y2 = rows.boxes[index].T.tolist()
    columns = list(zip(rows.score[index].tolist(), rows.action_id[index].tolist(), y1, x1, y2, x2))
    for lo, hi in zip(np.r_[0, bounds].tolist(), np.r_[bounds, len(index)].tolist()):
        yield int(keys[lo]), columns[lo:hi], rows.line[index[lo:hi]]


def _official_groundtruth(rows: AVABoxRows, excluded_keys):
    """Ground truth per key frame in the official order (heap, then stable sort by -score).

    Returns key, action_id, boxes ``(M, 4)`` as ``y1, x1, y2, x2``, and the line of
    each ground-truth box (for error messages).
    """
    keys, actions, boxes, lines = [], [], [], []
    for key, entries, entry_lines in _tuples_by_key(rows, np.flatnonzero(_not_excluded(rows, excluded_keys))):
        ordered = _official_order(entries, 0)
        # Equal tuples are interchangeable, so each keeps the line of a row with its values.
        line_of = {entry: line for entry, line in zip(reversed(entries), entry_lines[::-1].tolist())}
        keys += [key] * len(ordered)
        actions += [entry[1] for entry in ordered]
        boxes += [entry[2:] for entry in ordered]
        lines += [line_of[entry] for entry in ordered]
    return (np.array(keys, dtype=np.int64), np.array(actions, dtype=np.int64),
            np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(lines, dtype=np.int64))


def _file_order_groundtruth(rows: AVABoxRows, excluded_keys):
    """Ground truth as PySlowFast keeps it: every row, in file order.

    Returns key, action_id, boxes ``(M, 4)`` as ``y1, x1, y2, x2``, and line.
    """
    index = np.flatnonzero(_not_excluded(rows, excluded_keys))
    return rows.key[index], rows.action_id[index], _yxyx(rows.boxes[index]), rows.line[index]


def _file_order_detections(rows: AVABoxRows, excluded_keys):
    """Detections as PySlowFast keeps them: every row with a valid box, sorted by (class, frame order, row).

    Returns key, action_id, score and boxes ``(D, 4)`` as ``y1, x1, y2, x2``.
    """
    index = np.flatnonzero(_not_excluded(rows, excluded_keys))
    boxes = _yxyx(rows.boxes[index])
    index = index[(boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])]
    code = rows.action_id[index] * (len(rows.keys) + 1) + _frame_order(rows)[rows.key[index]]
    index = index[np.argsort(code, kind="stable")]
    return rows.key[index], rows.action_id[index], rows.score[index], _yxyx(rows.boxes[index])


def _yxyx(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` as ``y1, x1, y2, x2``."""
    return boxes[:, [1, 0, 3, 2]].reshape(-1, 4)


def _frame_order(rows: AVABoxRows) -> np.ndarray:
    """``(K,)`` rank of each key frame in the order its first row appears (the order of the official dicts)."""
    heads = np.flatnonzero(np.r_[True, rows.key[1:] != rows.key[:-1]]) if len(rows.key) else rows.key
    first_keys, first_heads = np.unique(rows.key[heads], return_index=True)
    order = np.zeros(len(rows.keys), dtype=np.int64)
    order[first_keys[np.argsort(heads[first_heads])]] = np.arange(len(first_keys))
    return order


def _official_detections(rows: AVABoxRows, excluded_keys, capacity: int):
    """Detections after the cap and the box check, sorted by (class, frame order, rank).

    Returns key, action_id, score and boxes ``(D, 4)`` as ``y1, x1, y2, x2``; within
    a class they are in the order of the official per-class concatenation.
    """
    # NaN if a coordinate is NaN (or two are infinities of opposite signs, which only keeps more rows).
    box_sum = rows.boxes[:, 0] + rows.boxes[:, 1] + rows.boxes[:, 2] + rows.boxes[:, 3]
    # Exclusions drop whole key frames, so they can come after the per-key-frame selection.
    index = np.flatnonzero(_heap_candidates(rows.key, rows.score, np.isnan(box_sum), capacity)
                           & _not_excluded(rows, excluded_keys))
    del box_sum
    key, score, action = rows.key[index], rows.score[index], rows.action_id[index]
    num_keys = len(rows.keys)
    # Group by key, descending score. Ties may come in any order: a key where their order could
    # matter (tie at the cap boundary, or two selected rows of one class) is simulated below.
    by_score = np.argsort(-score)
    score_rank = np.empty(len(by_score), dtype=np.int64)
    score_rank[by_score] = np.arange(len(by_score))
    order = np.argsort(key * len(by_score) + score_rank)
    sorted_key, sorted_score = key[order], score[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    selected = order[rank < capacity]

    slow = np.zeros(num_keys, dtype=bool)
    full = starts[counts > capacity]
    slow[sorted_key[full[sorted_score[full + capacity - 1] == sorted_score[full + capacity]]]] = True
    slow[key[np.isnan(score)]] = True
    by_class = selected[np.lexsort((score[selected], action[selected], key[selected]))]
    same = ((key[by_class][1:] == key[by_class][:-1]) & (action[by_class][1:] == action[by_class][:-1])
            & (score[by_class][1:] == score[by_class][:-1]))
    slow[key[by_class][1:][same]] = True

    fast = ~slow[key[selected]]
    fast_rows = index[selected[fast]]
    x1, y1, x2, y2 = rows.boxes[fast_rows].T
    out_key = [rows.key[fast_rows]]
    out_rank = [rank[rank < capacity][fast]]
    out_action = [rows.action_id[fast_rows]]
    out_score = [rows.score[fast_rows]]
    out_boxes = [np.stack([y1, x1, y2, x2], axis=1)]
    slow_index = index[slow[key]]
    if len(slow_index):
        ks, ranks, entries = [], [], []
        for k, key_entries, _ in _tuples_by_key(rows, slow_index):
            ordered = _official_order(key_entries, capacity)
            ks += [k] * len(ordered)
            ranks += range(len(ordered))
            entries += ordered
        out_key.append(np.array(ks, dtype=np.int64))
        out_rank.append(np.array(ranks, dtype=np.int64))
        out_score.append(np.array([e[0] for e in entries], dtype=np.float64))
        out_action.append(np.array([e[1] for e in entries], dtype=np.int64))
        out_boxes.append(np.array([e[2:6] for e in entries], dtype=np.float64).reshape(-1, 4))
    logger.debug("exact heap simulated for %d of %d key frames", int(slow.sum()), num_keys)
    key, rank, action = np.concatenate(out_key), np.concatenate(out_rank), np.concatenate(out_action)
    score, boxes = np.concatenate(out_score), np.concatenate(out_boxes)

    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    # Frames are visited in the order their first evaluated row appears in the file.
    frame_order = _frame_order(rows)
    final = np.flatnonzero(valid)
    # Sort by (class, frame order, rank) through one exact integer code (all parts are small).
    code = (action[final] * (num_keys + 1) + frame_order[key[final]]) * (capacity + 1) + rank[final]
    final = final[np.argsort(code, kind="stable")]
    return key[final], action[final], score[final], boxes[final]


def _heap_candidates(key: np.ndarray, score: np.ndarray, nan_box: np.ndarray, capacity: int) -> np.ndarray:
    """Mask of the rows the official per-key-frame heap needs to give its result.

    A min-heap of capacity ``k`` that replaces its minimum only on a strictly
    higher score ends up holding rows scoring at least the key frame's
    ``k``-th highest score ``s``, and rows below ``s`` only ever displace each
    other, never which rows at or above ``s`` it holds. Only the heap's order of
    equal scores depends on all rows, so a key frame keeps all its rows when
    its rows at or above ``s`` are more than ``k`` or share a score, or when a
    score or box is NaN; otherwise it keeps its ``k`` best rows.

    Args:
        key, score: ``(R,)`` key index and score of each row, in file order.
        nan_box: ``(R,)`` bool, the row's box has a NaN.
        capacity: ``k`` (< 1: no cap, every row is kept).
    """
    if capacity < 1 or len(key) == 0:
        return np.ones(len(key), dtype=bool)
    heads = np.r_[True, key[1:] != key[:-1]]
    if len(np.unique(key[heads])) == heads.sum():  # each key frame's rows are contiguous
        return _top_of_runs(key, score, nan_box, capacity)
    order = np.argsort(key, kind="stable")
    keep = np.empty(len(key), dtype=bool)
    keep[order] = _top_of_runs(key[order], score[order], nan_box[order], capacity)
    return keep


def _top_of_runs(key, score, nan_box, capacity):
    """:func:`_heap_candidates` for rows whose key frames form contiguous runs."""
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    run = np.repeat(np.arange(len(starts), dtype=np.int32), counts)
    keep_all = counts <= capacity
    keep_all[run[np.isnan(score) | nan_box]] = True
    big = np.flatnonzero(~keep_all)
    if len(big) == 0:
        return np.ones(len(key), dtype=bool)
    width = int(counts[big].max())
    if len(big) * width <= 2 * len(key):
        # Each capped run's scores in a row of a -inf padded grid; a partition puts its k best last.
        grid = np.full((len(big), width), -np.inf)
        slot = np.full(len(starts), -1)
        slot[big] = np.arange(len(big))
        rows = np.flatnonzero(slot[run] >= 0)
        grid[slot[run[rows]], rows - starts[run[rows]]] = score[rows]
        top = np.sort(np.partition(grid, width - capacity, axis=1)[:, width - capacity:], axis=1)
    else:  # very uneven run lengths: sort instead
        rows = np.flatnonzero(~keep_all[run])
        rows = rows[np.lexsort((score[rows], run[rows]))]
        top = score[rows[np.cumsum(counts[big])[:, None] - capacity + np.arange(capacity)]]
    threshold = np.full(len(starts), -np.inf)
    threshold[big] = top[:, 0]
    high = score >= threshold[run]
    num_high = np.bincount(run[high], minlength=len(starts))
    keep_all[big] |= (num_high[big] > capacity) | (top[:, 1:] == top[:, :-1]).any(1)
    return high | keep_all[run]


def _match(det_key, det_action, det_boxes, gt_key, gt_action, gt_boxes, iou_threshold, gt_lines, gt_name):
    """Greedy matching to the argmax-IoU ground truth of the same frame and class.

    Detections within one (frame, class) must come in the official order.

    Returns:
        ``(D,)`` bool, the detection is a true positive; ``(M,)`` bool, the
        ground truth is matched by one.
    """
    num_det = len(det_key)
    tp = np.zeros(num_det, dtype=bool)
    gt_matched = np.zeros(len(gt_key), dtype=bool)
    if num_det == 0 or len(gt_key) == 0:
        return tp, gt_matched
    stride = int(max(det_action.max(), gt_action.max())) + 1
    gt_group = gt_key * stride + gt_action
    gt_order = np.argsort(gt_group, kind="stable")  # keeps the official order within a group
    gt_sorted = gt_group[gt_order]
    det_group = np.where(det_key >= 0, det_key * stride + det_action, -1)
    lo = np.searchsorted(gt_sorted, det_group, side="left")
    hi = np.where(det_key >= 0, np.searchsorted(gt_sorted, det_group, side="right"), lo)
    per_det = hi - lo
    pair_det = np.repeat(np.arange(num_det), per_det)
    pair_gt = gt_order[np.repeat(lo - np.cumsum(per_det) + per_det, per_det) + np.arange(len(pair_det))]
    if len(pair_det) == 0:
        return tp, gt_matched

    gt_used = gt_boxes[pair_gt]
    invalid = (gt_used[:, 0] > gt_used[:, 2]) | (gt_used[:, 1] > gt_used[:, 3])
    if invalid.any():
        line = int(gt_lines[pair_gt[np.argmax(invalid)]])
        raise ValueError(f"{gt_name}:{line}: ground-truth box has x1 > x2 or y1 > y2")
    iou = _pairwise_iou(det_boxes[pair_det], gt_used)

    # np.argmax per detection: first maximum, and a NaN beats everything.
    firsts = np.cumsum(per_det) - per_det
    has_pairs = per_det > 0
    seg_starts = firsts[has_pairs]
    seg_max = np.maximum.reduceat(iou, seg_starts)  # NaN-propagating, like argmax's NaN rule
    seg_max_rep = np.repeat(seg_max, per_det[has_pairs])
    hit = (iou == seg_max_rep) | (np.isnan(iou) & np.isnan(seg_max_rep))
    positions = np.where(hit, np.arange(len(iou)), len(iou))
    best = np.minimum.reduceat(positions, seg_starts)
    dets = np.flatnonzero(has_pairs)
    candidate = iou[best] >= iou_threshold
    dets, best_gt = dets[candidate], pair_gt[best[candidate]]
    # A ground truth goes to the first detection (in order) whose best match it is.
    matched, first = np.unique(best_gt, return_index=True)
    tp[dets[first]] = True
    gt_matched[matched] = True
    return tp, gt_matched


def _pairwise_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of row-aligned ``y1, x1, y2, x2`` boxes, with np_box_ops' exact operations."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        heights = np.maximum(0.0, np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0]))
        widths = np.maximum(0.0, np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1]))
        intersect = heights * widths
        det_area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
        gt_area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
        return intersect / (det_area + gt_area - intersect)
