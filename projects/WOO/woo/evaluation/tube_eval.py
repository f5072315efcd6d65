"""Frame-mAP@0.5 and video-mAP of per-frame detections on JHMDB-21 / UCF101-24.

Detections are one row per (box, label): ``video_id,frame,x1,y1,x2,y2,label,score``
with 1-based frames, pixel coordinates and the 0-based index into the
pickle's ``labels``. Frame-mAP scores them directly
(:func:`woo.evaluation.tube_map.frame_ap`); video-mAP scores the tubes that
:func:`woo.evaluation.tube_linking.link_video` builds from them.
"""
import csv
import logging
import math
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from woo.formats.act_groundtruth import ActGroundTruth
from woo.formats.atomic import atomic_write

from .tube_linking import link_video
from .tube_map import VIDEO_MAP_THRESHOLDS, FrameDetections, frame_ap_details, video_ap

__all__ = ["evaluate_tube_detections", "read_tube_detections_csv", "write_tube_detections_csv", "TUBE_METRICS"]

logger = logging.getLogger(__name__)

# The figures :func:`evaluate_tube_detections` returns besides "per_class".
TUBE_METRICS = ("frame_mAP@0.5", "video_mAP@0.2", "video_mAP@0.5", "video_mAP@0.75", "video_mAP@0.5:0.95")


def _mean(aps: np.ndarray) -> float:
    return float(np.nanmean(aps)) if np.isfinite(aps).any() else float("nan")


def evaluate_tube_detections(
    groundtruth: ActGroundTruth,
    videos: Sequence[str],
    detections: FrameDetections,
    *,
    evaluated_frames: Optional[Dict[str, Iterable[int]]] = None,
    keep_details: bool = False,
    **linking,
) -> Dict:
    """Frame-mAP@0.5 and video-mAP at 0.2, 0.5, 0.75 and 0.5:0.95.

    Args:
        groundtruth: the dataset's ground truth.
        videos: the evaluated videos; ``detections.video`` indexes this list.
        detections: per-frame detections in pixels of the original frames.
        evaluated_frames: ``{video: frames}`` that were tested, when not every
            frame was (testing on every k-th frame): frame-mAP then counts only
            the ground truth on these frames, and the linker visits only them.
            None: every frame of every video.
        keep_details: also return ``"details"``: ``{"frame": EvaluationDetails}``
            of the frame-mAP (see :mod:`woo.formats.eval_details`), what the
            evaluation report draws.
        linking: keyword arguments of :func:`woo.evaluation.tube_linking.link_tubes`.

    Returns:
        ``{"frame_mAP@0.5", "video_mAP@0.2", "video_mAP@0.5", "video_mAP@0.75",
        "video_mAP@0.5:0.95"}`` as fractions, and ``"per_class"``: ``{label:
        frame AP}`` (NaN for a class without ground truth).
    """
    gttubes = groundtruth.gttubes
    if evaluated_frames is None:
        evaluated_frames = {v: range(1, groundtruth.nframes[v] + 1) for v in videos}
    else:
        gttubes = _restrict_to_frames(gttubes, videos, evaluated_frames)
    num_classes = len(groundtruth.labels)
    frame_details = frame_ap_details(gttubes, videos, groundtruth.labels, detections)
    frame_aps = frame_details.ap

    detections = detections.sorted_by_frame()
    tubes = {}
    bounds = np.searchsorted(detections.video, np.arange(len(videos) + 1))
    for index, video in enumerate(videos):
        rows = slice(bounds[index], bounds[index + 1])
        frame, label, score, boxes = (detections.frame[rows], detections.label[rows],
                                      detections.score[rows], detections.boxes[rows])
        per_frame = {}
        for f in sorted(set(int(f) for f in evaluated_frames.get(video, ()))):
            mine = frame == f
            per_frame[f] = (boxes[mine], label[mine], score[mine])
        tubes[video] = link_video(per_frame, num_classes, **linking)
    result = {"frame_mAP@0.5": _mean(frame_aps)}
    for threshold in (0.2, 0.5, 0.75):
        result[f"video_mAP@{threshold}"] = _mean(video_ap(groundtruth.gttubes, videos, num_classes, tubes, threshold))
    result["video_mAP@0.5:0.95"] = float(np.mean([
        _mean(video_ap(groundtruth.gttubes, videos, num_classes, tubes, t)) for t in VIDEO_MAP_THRESHOLDS
    ]))
    result["per_class"] = {name: float(ap) for name, ap in zip(groundtruth.labels, frame_aps)}
    if keep_details:
        result["details"] = {"frame": frame_details}
    return result


def _restrict_to_frames(gttubes, videos, evaluated_frames):
    """Ground-truth rows only on the evaluated frames (for frame-mAP)."""
    restricted = {}
    for video in videos:
        frames = np.array(sorted(set(int(f) for f in evaluated_frames.get(video, ()))))
        restricted[video] = {
            label: [t[np.isin(t[:, 0], frames)] for t in tubes if np.isin(t[:, 0], frames).any()]
            for label, tubes in gttubes.get(video, {}).items()
        }
    return restricted


def read_tube_detections_csv(path: str, groundtruth: ActGroundTruth, videos: Sequence[str]) -> FrameDetections:
    """Read a detection CSV (an optional header line starting with ``video_id``).

    Rows of videos outside ``videos`` are skipped and counted in a warning.

    Raises:
        ValueError: naming file and line of a row that has not 8 fields, a
            field that is not a number, a frame outside the video or a label
            outside the pickle's labels.
    """
    index = {video: i for i, video in enumerate(videos)}
    num_classes = len(groundtruth.labels)
    columns: List[List] = [[], [], [], [], []]
    skipped: Counter = Counter()
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or (line == 1 and row[0].strip() == "video_id"):
                continue
            if len(row) != 8:
                raise ValueError(f"{path}:{line}: expected 8 fields video_id,frame,x1,y1,x2,y2,label,score, got {len(row)}")
            video = row[0].strip()
            if video not in index:
                skipped[video] += 1
                continue
            try:
                frame, label = int(row[1]), int(row[6])
                box = [float(x) for x in row[2:6]]
                score = float(row[7])
            except ValueError:
                raise ValueError(f"{path}:{line}: frame and label must be integers, box and score numbers: {row}") from None
            if not 1 <= frame <= groundtruth.nframes[video]:
                raise ValueError(f"{path}:{line}: frame {frame} outside 1..{groundtruth.nframes[video]} of {video!r}")
            if not 0 <= label < num_classes:
                raise ValueError(f"{path}:{line}: label {label} outside 0..{num_classes - 1}")
            if not all(map(math.isfinite, box + [score])):
                raise ValueError(f"{path}:{line}: box and score must be finite: {row}")
            for column, value in zip(columns, (index[video], frame, label, score, box)):
                column.append(value)
    if skipped:
        logger.warning("%s: skipped %d rows of %d videos outside the evaluated split (e.g. %s)",
                       path, sum(skipped.values()), len(skipped), next(iter(skipped)))
    return FrameDetections(*columns[:4], boxes=np.array(columns[4], dtype=np.float32).reshape(-1, 4))


def write_tube_detections_csv(path: str, videos: Sequence[str], detections: FrameDetections) -> None:
    """Write ``detections`` atomically in the format :func:`read_tube_detections_csv` reads (with a header)."""
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "frame", "x1", "y1", "x2", "y2", "label", "score"])
        for v, fr, lab, sc, box in zip(detections.video, detections.frame, detections.label,
                                       detections.score, detections.boxes):
            writer.writerow([videos[v], int(fr), *(f"{x:.9g}" for x in box), int(lab), f"{sc:.9g}"])  # float32 round trip
