"""Action tubes from per-frame detections: greedy online linking.

The algorithm is the frame-level case (tubelet length K = 1) of the linking
of ACT (Kalogeiton et al., ICCV 2017), itself the online linker of Singh et
al. (ICCV 2017) without temporal trimming. For one video and one class:

1. Frames are visited in order (every evaluated frame; with testing on every
   k-th frame, only those). On each, the ``top_k`` highest-scoring detections
   of the class are the candidates.
2. The live tubes are ordered by their mean detection score, best first. Each
   in turn takes, among the candidates whose IoU (pixel-inclusive) with the
   tube's last box is at least ``link_iou``, the one with the highest score;
   a taken candidate is gone for the tubes after it.
3. A tube that takes nothing for ``max_gap`` visited frames in a row ends.
   Candidates nobody took start new tubes.
4. When the video ends every live tube ends. A tube's score is the mean
   score of its detections; tubes scoring below ``min_score`` or spanning
   fewer than ``min_length`` frames are dropped.
5. A tube gets a box on every frame from its first to its last detection;
   frames without a detection (not evaluated, or skipped within ``max_gap``)
   get the linear interpolation of the neighbouring boxes.

Temporal trimming (Singh et al.'s label-consistency Viterbi pass) is not
applied: on JHMDB-21 the action spans the whole clip, and ACT and MOC report
UCF101-24 without it as well.
"""
from typing import Dict, List, Tuple

import numpy as np

from .tube_map import inclusive_iou

__all__ = ["link_tubes", "link_video"]


def link_tubes(
    frames: Dict[int, Tuple[np.ndarray, np.ndarray]],
    *,
    top_k: int = 10,
    link_iou: float = 0.5,
    max_gap: int = 1,
    min_score: float = 0.005,
    min_length: int = 15,
) -> List[Tuple[np.ndarray, float]]:
    """Link one class's detections in one video into tubes.

    Args:
        frames: ``{frame (1-based): (boxes (n, 4) pixels, scores (n,))}`` for every
            evaluated frame (an evaluated frame without detections has n = 0).
        top_k: candidates per frame.
        link_iou: least IoU between a tube's last box and the box it takes.
        max_gap: visited frames in a row without a match after which a tube ends.
        min_score: tubes with a lower mean score are dropped.
        min_length: tubes spanning fewer frames are dropped.

    Returns:
        ``[(tube (L, 5) float32: frame, x1, y1, x2, y2 on consecutive frames, score)]``.
    """
    live: List[Dict] = []
    ended: List[Dict] = []
    for frame in sorted(frames):
        boxes, scores = frames[frame]
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        keep = np.argsort(-scores, kind="stable")[:top_k]
        boxes, scores = boxes[keep], scores[keep]
        free = np.ones(len(scores), dtype=bool)
        live.sort(key=lambda t: -t["total"] / len(t["scores"]))
        if live and len(scores):
            last = np.stack([t["boxes"][-1] for t in live])
            ious = inclusive_iou(last[:, None, :], boxes[None, :, :])  # (live tubes, candidates)
        still_live = []
        for row, tube in enumerate(live):
            matched = False
            if free.any():
                valid = np.flatnonzero(free & (ious[row] >= link_iou))
                if valid.size:
                    best = int(valid[np.argmax(scores[valid])])
                    free[best] = False
                    tube["frames"].append(frame)
                    tube["boxes"].append(boxes[best])
                    tube["scores"].append(float(scores[best]))
                    tube["total"] += float(scores[best])
                    tube["misses"] = 0
                    matched = True
            if not matched:
                tube["misses"] += 1
            (still_live if tube["misses"] < max_gap else ended).append(tube)
        live = still_live + [
            {"frames": [frame], "boxes": [boxes[i]], "scores": [float(scores[i])], "total": float(scores[i]),
             "misses": 0}
            for i in np.flatnonzero(free)
        ]
    tubes = []
    for tube in ended + live:
        score = float(np.mean(tube["scores"]))
        first, last = tube["frames"][0], tube["frames"][-1]
        if score < min_score or last - first + 1 < min_length:
            continue
        tubes.append((_fill_frames(np.asarray(tube["frames"]), np.stack(tube["boxes"])), score))
    return tubes


def _fill_frames(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(L, 5) rows for every frame from ``frames[0]`` to ``frames[-1]``, boxes interpolated linearly."""
    every = np.arange(frames[0], frames[-1] + 1)
    columns = [np.interp(every, frames, boxes[:, j]) for j in range(4)]
    return np.stack([every, *columns], axis=1).astype(np.float32)


def link_video(
    detections: Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]], num_classes: int, **kwargs
) -> Dict[int, List[Tuple[np.ndarray, float]]]:
    """Tubes of every class of one video.

    Args:
        detections: ``{frame: (boxes (n, 4), labels (n,), scores (n,))}`` for every evaluated frame.
        num_classes: number of labels.
        kwargs: passed to :func:`link_tubes`.

    Returns:
        ``{label: [(tube, score)]}``.
    """
    per_label: Dict[int, Dict] = {label: {} for label in range(num_classes)}
    for frame, (boxes, labels, scores) in detections.items():
        boxes, labels, scores = np.asarray(boxes).reshape(-1, 4), np.asarray(labels), np.asarray(scores)
        for label in range(num_classes):
            per_label[label][frame] = (boxes[:0], scores[:0])
        for label in np.unique(labels):
            mine = labels == label
            per_label[int(label)][frame] = (boxes[mine], scores[mine])
    return {label: link_tubes(per_frame, **kwargs) for label, per_frame in per_label.items()}
