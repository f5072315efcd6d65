"""Action tubes: link the actors of successive key frames into tracks, find action segments.

Tracks are built online (each key frame is assigned as it arrives, so a
rendered frame can be coloured by track at once): Hungarian matching
(``scipy.optimize.linear_sum_assignment``) on box IoU between the live tracks'
last boxes and the new detections; a pair below ``iou_thresh`` is no match. A
detection without a match starts a track; a track unmatched for more than
``max_misses`` key frames in a row ends.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

__all__ = ["Track", "ActionTracker", "action_segments"]


@dataclass
class Track:
    """One actor over time.

    Attributes:
        track_id: stable id, from 0 in order of appearance.
        key_indices: ordinal of each key frame the actor was detected at.
        times: (seconds) of those key frames.
        boxes: (4,) pixel boxes, one per key frame.
        scores: actor scores, one per key frame.
        actions: (C,) action scores, one per key frame.
        misses: key frames in a row without a match (while live).
    """

    track_id: int
    key_indices: List[int] = field(default_factory=list)
    times: List[float] = field(default_factory=list)
    boxes: List[np.ndarray] = field(default_factory=list)
    scores: List[float] = field(default_factory=list)
    actions: List[np.ndarray] = field(default_factory=list)
    misses: int = 0

    def add(self, key_index: int, time: float, box: np.ndarray, score: float, actions: np.ndarray) -> None:
        self.key_indices.append(key_index)
        self.times.append(time)
        self.boxes.append(np.asarray(box, dtype=np.float32))
        self.scores.append(float(score))
        self.actions.append(np.asarray(actions, dtype=np.float32))
        self.misses = 0


class ActionTracker:
    """Online IoU tracker over key frames.

    Args:
        iou_thresh: least IoU of a match.
        max_misses: key frames a track may go unmatched before it ends.
    """

    def __init__(self, *, iou_thresh: float = 0.3, max_misses: int = 2):
        if not 0.0 <= iou_thresh <= 1.0 or max_misses < 0:
            raise ValueError(f"need 0 <= iou_thresh <= 1 and max_misses >= 0, got {iou_thresh}, {max_misses}")
        self.iou_thresh = float(iou_thresh)
        self.max_misses = int(max_misses)
        self.live: List[Track] = []
        self.ended: List[Track] = []
        self._key_index = 0

    def update(self, time: float, boxes: np.ndarray, scores: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Assign the detections of the next key frame to tracks.

        Args:
            time: the key frame's time in seconds.
            boxes: (M, 4) pixel boxes x1y1x2y2.
            scores: (M,) actor scores.
            actions: (M, C) action scores.

        Returns:
            (M,) int64 track id of each detection.
        """
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        matched_tracks = set()
        if self.live and len(boxes):
            last = torch.from_numpy(np.stack([t.boxes[-1] for t in self.live]))
            iou = box_iou(last, torch.from_numpy(boxes)).numpy()  # (tracks, detections)
            iou = np.nan_to_num(iou, nan=0.0)  # empty boxes: 0 / 0
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_thresh:
                    track = self.live[r]
                    track.add(self._key_index, time, boxes[c], scores[c], actions[c])
                    ids[c] = track.track_id
                    matched_tracks.add(r)
        still_live = []
        for r, track in enumerate(self.live):
            if r not in matched_tracks:
                track.misses += 1
            (still_live if track.misses <= self.max_misses else self.ended).append(track)
        self.live = still_live
        for c in np.flatnonzero(ids < 0):
            track = Track(track_id=self._num_tracks())
            track.add(self._key_index, time, boxes[c], scores[c], actions[c])
            self.live.append(track)
            ids[c] = track.track_id
        self._key_index += 1
        return ids

    def _num_tracks(self) -> int:
        return len(self.live) + len(self.ended)

    def tracks(self) -> List[Track]:
        """Every track so far, ended or live, by id."""
        return sorted(self.ended + self.live, key=lambda t: t.track_id)


def action_segments(track: Track, class_names: Sequence[str], score_thresh: float,
                    half_width: float, duration: float) -> List[Dict]:
    """Runs of key frames where an action's score stays at or above ``score_thresh``.

    A run breaks where the score drops or the track missed a key frame. Each key
    frame stands for ``[time - half_width, time + half_width]`` (the frames it
    is shown on), clamped to ``[0, duration]``.

    Returns:
        ``[{"label", "action_id", "start", "end", "mean_score"}]`` by start, then label.
    """
    if not track.times:
        return []
    scores = np.stack(track.actions)  # (K, C)
    keys = np.asarray(track.key_indices)
    times = np.asarray(track.times)
    segments = []
    for column, name in enumerate(class_names):
        above = scores[:, column] >= score_thresh
        start = None
        for k in range(len(keys) + 1):
            continues = k < len(keys) and above[k] and start is not None and keys[k] == keys[k - 1] + 1
            if start is not None and not continues:
                run = slice(start, k)
                segments.append({
                    "label": name,
                    "action_id": column + 1,
                    "start": round(max(float(times[start]) - half_width, 0.0), 4),
                    "end": round(min(float(times[k - 1]) + half_width, duration), 4),
                    "mean_score": round(float(scores[run, column].mean()), 4),
                })
                start = None
            if k < len(keys) and above[k] and start is None:
                start = k
    return sorted(segments, key=lambda s: (s["start"], s["action_id"]))
