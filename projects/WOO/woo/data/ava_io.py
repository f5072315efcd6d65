"""Readers for AVA frame lists, annotation CSVs and person-box proposal CSVs.

Label maps and exclusion files are read by :mod:`woo.evaluation.ava_io`
(:func:`read_labelmap`, :func:`read_exclusions`); they are re-exported here.

Quirks of the real AVA files and what happens to them (every skip and clip is
counted and reported in one summary line per file, never dropped silently):

* 7-column rows (no ``person_id``, some v2.1 releases): boxes are grouped by
  their coordinates instead of by person.
* timestamps outside the annotated range 902..1798: row skipped and counted.
* coordinates slightly outside [0, 1]: clipped to [0, 1] and counted.
* boxes that are empty after clipping (x2 <= x1 or y2 <= y1): skipped, counted.
* action ids not in the training label map: row skipped and counted (AVA ships
  80-class CSVs that are also trained with smaller label maps).
* the same row twice: counted, merged.

Anything else (wrong column count, text where a number belongs, an empty
action id in a ground-truth file) raises ``ValueError`` naming file and line.
"""
import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

import numpy as np

from woo.evaluation.ava_io import read_exclusions, read_labelmap

__all__ = [
    "AVA_VALID_TIMESTAMPS",
    "FPS",
    "FIRST_SECOND",
    "AnnotatedBox",
    "read_labelmap",
    "read_exclusions",
    "read_frame_list",
    "read_annotations",
    "read_proposals",
    "key_frame_index",
]

logger = logging.getLogger(__name__)

# AVA annotates one key frame per second in [902, 1798] of each 15-minute clip.
AVA_VALID_TIMESTAMPS = (902, 1798)
# Frames are extracted at 30 FPS from second 900 on, so frame 0 is second 900.
FPS = 30
FIRST_SECOND = 900

_FRAME_LIST_HEADER = ["original_vido_id", "video_idx", "frame_id", "path", "labels"]


def key_frame_index(timestamp: int) -> int:
    """0-based index into a video's frame list of the key frame of second ``timestamp``."""
    return (int(timestamp) - FIRST_SECOND) * FPS


@dataclass
class AnnotatedBox:
    """One person on one key frame: a box and the set of its action ids."""

    box: Tuple[float, float, float, float]
    action_ids: Set[int] = field(default_factory=set)


def read_frame_list(path: str) -> Dict[str, List[str]]:
    """Read a PySlowFast frame list (space separated, with header).

    Rows are ``original_vido_id video_idx frame_id path labels``; ``path`` is
    relative to the frames directory.

    Returns:
        ``{video_id: [frame path, ...]}`` ordered by ``frame_id``.

    Raises:
        ValueError: naming file and line of a malformed row or duplicate
            frame id, or naming the video whose frame ids are not 0..n-1.
    """
    frames: Dict[str, Dict[int, str]] = {}
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if lineno == 1 and parts[0] == _FRAME_LIST_HEADER[0]:
                continue
            if len(parts) not in (4, 5):
                raise ValueError(
                    f"{path}:{lineno}: expected '{' '.join(_FRAME_LIST_HEADER)}', got {line.strip()!r}"
                )
            video_id, _, frame_text, frame_path = parts[:4]
            try:
                frame_id = int(frame_text)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: frame_id {frame_text!r} is not an integer") from None
            video = frames.setdefault(video_id, {})
            if frame_id in video:
                raise ValueError(f"{path}:{lineno}: frame {frame_id} of video {video_id!r} listed twice")
            video[frame_id] = frame_path
    result: Dict[str, List[str]] = {}
    for video_id, video in frames.items():
        ids = sorted(video)
        if ids[0] != 0 or ids[-1] != len(ids) - 1:
            missing = next(i for i in range(len(ids) + 1) if i not in video)
            raise ValueError(f"{path}: video {video_id!r} has frame ids {ids[0]}..{ids[-1]} with frame {missing} missing")
        result[video_id] = [video[i] for i in ids]
    logger.info("%s: %d frames of %d videos", path, sum(len(v) for v in result.values()), len(result))
    return result


def _parse_float(path: str, lineno: int, name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}:{lineno}: {name} {text!r} is not a number") from None


def _parse_int(path: str, lineno: int, name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}:{lineno}: {name} {text!r} is not an integer") from None


def _parse_box(path: str, lineno: int, cells: List[str], stats: Counter) -> Optional[Tuple[float, ...]]:
    """Clipped (x1, y1, x2, y2) of ``cells``, or None for a box empty after clipping."""
    raw = [_parse_float(path, lineno, name, text) for name, text in zip(("x1", "y1", "x2", "y2"), cells)]
    box = tuple(min(max(v, 0.0), 1.0) for v in raw)
    if box != tuple(raw):
        stats["clipped box outside [0,1]"] += 1
    if box[2] <= box[0] or box[3] <= box[1]:
        stats["skipped empty box"] += 1
        return None
    return box


def _report(path: str, rows: int, stats: Counter, what: str) -> None:
    details = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    level = logging.WARNING if stats else logging.INFO
    logger.log(level, "%s: %d rows -> %s%s", path, rows, what, f"; {details}" if details else "")


def _box_rows(path: str, expected: str) -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(line number, stripped cells)`` of the 7- or 8-column rows of an AVA
    box CSV, skipping blank lines; any other column count is an error naming the line."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) not in (7, 8):
                raise ValueError(f"{path}:{lineno}: expected '{expected}', got {len(row)} columns")
            yield lineno, [cell.strip() for cell in row]


def read_annotations(
    path: str,
    *,
    class_ids: Optional[Set[int]] = None,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
) -> Tuple[Dict[Tuple[str, int], List[AnnotatedBox]], Counter]:
    """Read an AVA ground-truth CSV (``video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]``).

    Rows of the same person (same ``person_id`` and box; the box alone in
    7-column files) and key frame become one box with all its action ids.

    Args:
        path: the CSV file.
        class_ids: action ids to keep (the training label map's); None keeps all.
        valid_timestamps: inclusive range of annotated seconds.

    Returns:
        boxes: ``{(video_id, timestamp): [AnnotatedBox, ...]}`` in file order.
        stats: counts of every quirk met (see the module docstring).

    Raises:
        ValueError: naming file and line of a malformed row.
    """
    stats: Counter = Counter()
    people: Dict[Tuple[str, int], Dict[tuple, AnnotatedBox]] = {}
    seen_rows: Set[tuple] = set()
    rows = 0
    for lineno, row in _box_rows(path, "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]"):
        rows += 1
        video_id = row[0]
        timestamp = _parse_int(path, lineno, "timestamp", row[1])
        if not row[6]:
            raise ValueError(f"{path}:{lineno}: empty action_id (a proposal file? use read_proposals)")
        action_id = _parse_int(path, lineno, "action_id", row[6])
        person = _parse_int(path, lineno, "person_id", row[7]) if len(row) == 8 else None
        if not valid_timestamps[0] <= timestamp <= valid_timestamps[1]:
            stats[f"skipped timestamp outside {valid_timestamps[0]}..{valid_timestamps[1]}"] += 1
            continue
        if class_ids is not None and action_id not in class_ids:
            stats["skipped action id not in label map"] += 1
            continue
        box = _parse_box(path, lineno, row[2:6], stats)
        if box is None:
            continue
        row_key = (video_id, timestamp, box, action_id, person)
        if row_key in seen_rows:
            stats["merged duplicate row"] += 1
        seen_rows.add(row_key)
        frame = people.setdefault((video_id, timestamp), {})
        entry = frame.setdefault((person, box), AnnotatedBox(box=box))
        entry.action_ids.add(action_id)
    result = {key: list(frame.values()) for key, frame in people.items()}
    num_boxes = sum(len(v) for v in result.values())
    _report(path, rows, stats, f"{num_boxes} boxes on {len(result)} key frames")
    return result, stats


def read_proposals(
    path: str,
    *,
    min_score: float = 0.0,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
) -> Dict[Tuple[str, int], Tuple[np.ndarray, np.ndarray]]:
    """Read person-box proposals with scores (e.g. ``ava_detection_val_boxes_and_labels.csv``).

    Rows are ``video_id,timestamp,x1,y1,x2,y2,score`` or
    ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` (``action_id`` may be
    empty). A box listed once per action keeps its highest score. WOO finds
    its actors itself; proposals serve comparisons with two-stage detectors.

    Args:
        path: the CSV file.
        min_score: proposals scoring below this are left out (counted).
        valid_timestamps: inclusive range of annotated seconds.

    Returns:
        ``{(video_id, timestamp): (boxes (N, 4) float32 normalized x1y1x2y2, scores (N,) float32)}``.

    Raises:
        ValueError: naming file and line of a malformed row.
    """
    stats: Counter = Counter()
    frames: Dict[Tuple[str, int], Dict[tuple, float]] = {}
    rows = 0
    for lineno, row in _box_rows(path, "video_id,timestamp,x1,y1,x2,y2[,action_id],score"):
        rows += 1
        timestamp = _parse_int(path, lineno, "timestamp", row[1])
        score = _parse_float(path, lineno, "score", row[-1])
        if not valid_timestamps[0] <= timestamp <= valid_timestamps[1]:
            stats[f"skipped timestamp outside {valid_timestamps[0]}..{valid_timestamps[1]}"] += 1
            continue
        if score < min_score:
            stats[f"skipped score below {min_score}"] += 1
            continue
        box = _parse_box(path, lineno, row[2:6], stats)
        if box is None:
            continue
        frame = frames.setdefault((row[0], timestamp), {})
        frame[box] = max(score, frame.get(box, score))
    result = {
        key: (
            np.asarray(list(frame), dtype=np.float32).reshape(-1, 4),
            np.asarray(list(frame.values()), dtype=np.float32),
        )
        for key, frame in frames.items()
    }
    _report(path, rows, stats, f"{sum(len(v[1]) for v in result.values())} proposals on {len(result)} key frames")
    return result
