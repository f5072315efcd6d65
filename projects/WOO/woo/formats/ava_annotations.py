"""AVA annotation files: ground-truth boxes per person, excluded key frames,
frame lists, and AVA's timing constants.

Box CSVs are parsed by the one reader of AVA box CSVs,
:func:`woo.formats.ava_box_csv.read_box_csv`, which the evaluation uses too.

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
* ``video_id,timestamp`` rows (a key frame without boxes): no box.

Anything else (wrong column count, text where a number belongs, an empty
action id) raises ``ValueError`` naming file and line.
"""
import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from woo.formats.ava_box_csv import read_box_csv

__all__ = [
    "AVA_VALID_TIMESTAMPS",
    "FPS",
    "FIRST_SECOND",
    "AnnotatedBox",
    "read_exclusions",
    "read_frame_list",
    "read_annotations",
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


def _report(path: str, rows: int, stats: Counter, what: str) -> None:
    details = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    level = logging.WARNING if stats else logging.INFO
    logger.log(level, "%s: %d rows -> %s%s", path, rows, what, f"; {details}" if details else "")


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
    table = read_box_csv(path, class_ids, last_column="person_id")
    stats: Counter = Counter()
    if table.skipped:
        stats["skipped action id not in label map"] = sum(table.skipped.values())
    people: Dict[Tuple[str, int], Dict[tuple, AnnotatedBox]] = {}
    seen_rows: Set[tuple] = set()
    first, last = valid_timestamps
    for key_index, raw, action_id, person, line in zip(table.key.tolist(), table.boxes.tolist(),
                                                       table.action_id.tolist(), table.score.tolist(),
                                                       table.line.tolist()):
        key = table.keys[key_index]
        if not first <= key[1] <= last:
            stats[f"skipped timestamp outside {first}..{last}"] += 1
            continue
        if person != int(person):
            raise ValueError(f"{path}:{line}: person_id {person} is not an integer")
        box = tuple(min(max(v, 0.0), 1.0) for v in raw)
        if box != tuple(raw):
            stats["clipped box outside [0,1]"] += 1
        if box[2] <= box[0] or box[3] <= box[1]:
            stats["skipped empty box"] += 1
            continue
        row_key = (key, box, action_id, person)
        if row_key in seen_rows:
            stats["merged duplicate row"] += 1
        seen_rows.add(row_key)
        # A 7-column row reads as person 1: its box alone tells people apart.
        entry = people.setdefault(key, {}).setdefault((int(person), box), AnnotatedBox(box=box))
        entry.action_ids.add(action_id)
    result = {key: list(frame.values()) for key, frame in people.items()}
    num_boxes = sum(len(v) for v in result.values())
    rows = len(table.key) + sum(table.skipped.values())
    _report(path, rows, stats, f"{num_boxes} boxes on {len(result)} key frames")
    return result, stats


def read_exclusions(path: str) -> Set[Tuple[str, int]]:
    """Read an AVA excluded-timestamps CSV (``video_id,timestamp`` rows).

    Returns:
        The excluded key frames as ``(video_id, timestamp)`` with an integer
        timestamp in seconds.

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    excluded: Set[Tuple[str, int]] = set()
    with open(path, newline="", encoding="utf-8-sig") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'video_id,timestamp', got {row}")
            try:
                timestamp = int(row[1])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: timestamp {row[1]!r} is not an integer") from None
            excluded.add((row[0].strip(), timestamp))
    return excluded
