"""What an evaluation keeps for its report: per-class precision-recall curves,
ground-truth counts and the misses of each key frame, in one ``.npz`` file.

The file (``OUTPUT_DIR/inference/eval_details.npz``, or beside the report of
``woo ava-eval --report``) holds one :class:`EvaluationDetails` per protocol
(``official``, ``pyslowfast``, or ``frame`` for the JHMDB / UCF frame-mAP),
its arrays stored under ``<protocol>.<field>``, strings as unicode arrays, so
that it loads with ``allow_pickle=False``.
"""
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from .atomic import atomic_write

__all__ = ["EvaluationDetails", "curve_vertices", "save_details", "load_details"]

# Arrays of one EvaluationDetails, in the order they are stored.
_ARRAYS = ("class_names", "num_groundtruth", "num_detections", "ap", "curve_bounds", "precision", "recall",
           "videos", "frame_video", "frame_time", "frame_pairs", "frame_missed")


@dataclass
class EvaluationDetails:
    """One protocol's matching, as far as the report draws it.

    A ground-truth *pair* is one (actor box, action) row of the ground truth; it
    is *missed* when no detection of that action was matched to it (IoU >= the
    evaluation's threshold, at any score among the evaluated detections).

    Attributes:
        class_names: (C,) names, in the label map's order.
        num_groundtruth: (C,) int, ground-truth pairs of each class.
        num_detections: (C,) int, detections of each class that were scored.
        ap: (C,) float, AP of each class (NaN: no ground truth).
        precision, recall: C arrays (n_c,) float32, the vertices of each class's
            precision-recall curve by descending score (see :func:`curve_vertices`).
        videos: (V,) video ids.
        frame_video: (K,) int, index into ``videos`` of each key frame with ground truth.
        frame_time: (K,) int, its timestamp (AVA: second; JHMDB / UCF: 1-based frame).
        frame_pairs: (K,) int, its ground-truth pairs.
        frame_missed: (K,) int, of these, the missed ones.
        time_unit: what ``frame_time`` counts: "second" or "frame".
    """

    class_names: List[str]
    num_groundtruth: np.ndarray
    num_detections: np.ndarray
    ap: np.ndarray
    precision: List[np.ndarray]
    recall: List[np.ndarray]
    videos: List[str]
    frame_video: np.ndarray
    frame_time: np.ndarray
    frame_pairs: np.ndarray
    frame_missed: np.ndarray
    time_unit: str = "second"

    def most_missed(self, count: int) -> List[Dict]:
        """The ``count`` key frames with the most missed pairs (ties: video, then time).

        Returns:
            ``[{"video", "time", "missed", "pairs"}]``, only key frames with a miss.
        """
        order = np.lexsort((self.frame_time, self.frame_video, -self.frame_missed))
        order = order[self.frame_missed[order] > 0][:count]
        return [{"video": self.videos[int(self.frame_video[i])], "time": int(self.frame_time[i]),
                 "missed": int(self.frame_missed[i]), "pairs": int(self.frame_pairs[i])} for i in order]


def curve_vertices(precision: np.ndarray, recall: np.ndarray, is_tp: np.ndarray):
    """The points of a ranked precision-recall curve that fix its shape.

    Between two true positives precision only falls at constant recall, so the
    curve is drawn exactly by each true positive's point, the point just before
    it, and the last point.

    Args:
        precision, recall: (N,) at each rank, best first.
        is_tp: (N,) bool, the detection at that rank is a true positive.

    Returns:
        precision, recall: (n,) float32, n <= 2 * true positives + 1.
    """
    n = len(precision)
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    hits = np.flatnonzero(is_tp)
    keep = np.unique(np.concatenate([hits, hits[hits > 0] - 1, [n - 1]]))
    return np.asarray(precision, np.float32)[keep], np.asarray(recall, np.float32)[keep]


def save_details(path: str, details: Dict[str, EvaluationDetails]) -> None:
    """Write ``{protocol: EvaluationDetails}`` to ``path`` (temporary file, then ``os.replace``)."""
    arrays = {}
    for protocol, d in details.items():
        if "." in protocol:
            raise ValueError(f"protocol name {protocol!r} must not contain '.'")
        lengths = [len(p) for p in d.precision]
        values = {
            "class_names": np.array(d.class_names, dtype=str),
            "num_groundtruth": np.asarray(d.num_groundtruth, np.int64),
            "num_detections": np.asarray(d.num_detections, np.int64),
            "ap": np.asarray(d.ap, np.float64),
            "curve_bounds": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]),
            "precision": np.concatenate([np.zeros(0, np.float32)] + [np.asarray(p, np.float32) for p in d.precision]),
            "recall": np.concatenate([np.zeros(0, np.float32)] + [np.asarray(r, np.float32) for r in d.recall]),
            "videos": np.array(d.videos, dtype=str).reshape(-1),
            "frame_video": np.asarray(d.frame_video, np.int32),
            "frame_time": np.asarray(d.frame_time, np.int64),
            "frame_pairs": np.asarray(d.frame_pairs, np.int32),
            "frame_missed": np.asarray(d.frame_missed, np.int32),
        }
        arrays.update({f"{protocol}.{k}": v for k, v in values.items()})
        arrays[f"{protocol}.time_unit"] = np.array(d.time_unit)
    # Written to a file object: given a name, numpy would add ".npz" to it.
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_details(path: str) -> Dict[str, EvaluationDetails]:
    """Read what :func:`save_details` wrote.

    Raises:
        ValueError: naming ``path`` and the missing array, if the file lacks one.
    """
    with np.load(path, allow_pickle=False) as data:
        protocols = sorted({key.split(".", 1)[0] for key in data.files})
        result = {}
        for protocol in protocols:
            missing = [name for name in _ARRAYS + ("time_unit",) if f"{protocol}.{name}" not in data.files]
            if missing:
                raise ValueError(f"{path}: protocol {protocol!r} has no array {missing[0]!r}")
            get = {name: data[f"{protocol}.{name}"] for name in _ARRAYS}
            bounds = get["curve_bounds"]
            curves = [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
            result[protocol] = EvaluationDetails(
                class_names=get["class_names"].tolist(),
                num_groundtruth=get["num_groundtruth"],
                num_detections=get["num_detections"],
                ap=get["ap"],
                precision=[get["precision"][s] for s in curves],
                recall=[get["recall"][s] for s in curves],
                videos=get["videos"].tolist(),
                frame_video=get["frame_video"],
                frame_time=get["frame_time"],
                frame_pairs=get["frame_pairs"],
                frame_missed=get["frame_missed"],
                time_unit=str(data[f"{protocol}.time_unit"]),
            )
    return result
