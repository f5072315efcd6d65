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

import numpy as np

from woo.formats.ava_box_csv import read_box_csv
from woo.formats.frame_list import read_frame_list

__all__ = [
    "AVA_VALID_TIMESTAMPS",
    "FPS",
    "FIRST_SECOND",
    "AnnotatedBox",
    "AnnotationTable",
    "read_annotation_table",
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

def key_frame_index(timestamp, fps: float = FPS, first_second: int = FIRST_SECOND):
    """0-based index into a video's frame list of the key frame of second ``timestamp`` (an int or
    an int array), for frames extracted at ``fps`` from second ``first_second`` on (AVA: 30 FPS
    from second 900; a set of ``woo prepare``: its frame rate from second 0)."""
    if np.ndim(timestamp):
        seconds = np.asarray(timestamp, dtype=np.int64) - first_second
        return seconds * int(fps) if float(fps).is_integer() else np.round(seconds * fps).astype(np.int64)
    return int(round((int(timestamp) - first_second) * fps))


@dataclass
class AnnotatedBox:
    """One person on one key frame: a box and the set of its action ids."""

    box: Tuple[float, float, float, float]
    action_ids: Set[int] = field(default_factory=set)


def _report(path: str, rows: int, stats: Counter, what: str) -> None:
    details = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    level = logging.WARNING if stats else logging.INFO
    logger.log(level, "%s: %d rows -> %s%s", path, rows, what, f"; {details}" if details else "")


@dataclass
class AnnotationTable:
    """The people of an AVA ground-truth CSV, as arrays (what :func:`read_annotation_table` returns).

    Attributes:
        keys: ``(video_id, timestamp)`` of each key frame that has a person, in file order.
        person_key: ``(P,)`` int64, index into ``keys`` of each person, people in file order.
        boxes: ``(P, 4)`` float64 normalized ``x1, y1, x2, y2``, clipped to [0, 1].
        action_start: ``(P + 1,)`` int64: person ``p``'s action ids are
            ``action_ids[action_start[p]:action_start[p + 1]]``.
        action_ids: ``(A,)`` int64, increasing within each person.
        stats: counts of every quirk met (see the module docstring).
    """

    keys: List[Tuple[str, int]]
    person_key: np.ndarray
    boxes: np.ndarray
    action_start: np.ndarray
    action_ids: np.ndarray
    stats: Counter

    def actions_of(self, person: int) -> np.ndarray:
        return self.action_ids[self.action_start[person]:self.action_start[person + 1]]


# Odd multiplier of the row hash (Fibonacci hashing's 2**64 / golden ratio).
_HASH_MULTIPLIER = 0x9E3779B97F4A7C15


def _row_groups(columns: List[np.ndarray]):
    """Groups of equal rows of float64 ``columns`` (``(R,)`` each; values compared bit for bit).

    Returns:
        first: ``(G,)`` index of each group's first row, increasing (groups in order of appearance).
        group: ``(R,)`` the group of each row.
    """
    if len(columns[0]) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # A 64-bit hash of each row's bits, sorted as one integer column, is much faster than
    # sorting the rows; a collision (rows in one group that differ) falls back to the exact way.
    bits = [np.ascontiguousarray(column, dtype=np.float64).view(np.uint64) for column in columns]
    code = np.zeros(len(bits[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in bits:
            code = (code ^ column) * np.uint64(_HASH_MULTIPLIER)
            code ^= code >> np.uint64(29)
    _, first, group = np.unique(code, return_index=True, return_inverse=True)
    if not all((column == column[first[group]]).all() for column in bits):
        rows = np.ascontiguousarray(np.column_stack(bits))
        _, first, group = np.unique(rows.view(np.dtype((np.void, 8 * len(bits)))).ravel(), return_index=True,
                                    return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return first[order], rank[group.ravel()]


def read_annotation_table(
    path: str,
    *,
    class_ids: Optional[Set[int]] = None,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
) -> AnnotationTable:
    """Read an AVA ground-truth CSV (``video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]``) into arrays.

    Rows of the same person (same ``person_id`` and box; the box alone in 7-column files) and
    key frame become one person with all its action ids. Vectorized: AVA's 1.15M training rows
    read in seconds, with no Python object per row.

    Args:
        path: the CSV file.
        class_ids: action ids to keep (the training label map's); None keeps all.
        valid_timestamps: inclusive range of annotated seconds.

    Raises:
        ValueError: naming file and line of a malformed row.
    """
    table = read_box_csv(path, class_ids, last_column="person_id")
    stats: Counter = Counter()
    if table.skipped:
        stats["skipped action id not in label map"] = sum(table.skipped.values())
    first, last = valid_timestamps
    key_seconds = np.array([timestamp for _, timestamp in table.keys], dtype=np.int64)
    seconds = key_seconds[table.key] if len(table.keys) else np.zeros(0, np.int64)
    valid = (seconds >= first) & (seconds <= last)
    if (~valid).sum():
        stats[f"skipped timestamp outside {first}..{last}"] = int((~valid).sum())
    # Views where nothing is left out (AVA's own files): the reader's arrays are large.
    rows = slice(None) if valid.all() else valid
    person = table.score[rows]
    fractional = np.flatnonzero(person != np.floor(person))
    if len(fractional):
        raise ValueError(f"{path}:{table.line[rows][fractional[0]]}: person_id {person[fractional[0]]} is not an "
                         "integer")
    raw = table.boxes[rows]
    boxes = np.clip(raw, 0.0, 1.0)
    boxes += 0.0  # -0.0 and 0.0 are one value, as when compared as numbers
    clipped = int(np.any(boxes != raw, axis=1).sum())
    if clipped:
        stats["clipped box outside [0,1]"] = clipped
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if empty.any():
        stats["skipped empty box"] = int(empty.sum())
        keep = ~empty
        key, person, boxes, action = table.key[rows][keep], person[keep], boxes[keep], table.action_id[rows][keep]
    else:
        key, action = table.key[rows], table.action_id[rows]
    # A 7-column row reads as person 1: its box alone tells people apart. A person's rows
    # usually follow each other: runs of equal rows are grouped first, then the runs.
    columns = [key.astype(np.float64), person, *boxes.T]
    new_run = np.ones(len(key), dtype=bool)
    if len(key):
        new_run[1:] = False
        for column in columns:
            new_run[1:] |= column[1:] != column[:-1]
    heads = np.flatnonzero(new_run)
    run_first, run_group = _row_groups([column[heads] for column in columns])
    # People numbered in file order (of their first row), as the rows name them.
    first_rows = heads[run_first]
    person_of_row = np.repeat(run_group, np.diff(np.r_[heads, len(key)]))
    # (person, action) of the distinct rows, sorted: each person's action ids, increasing.
    width = int(action.max(initial=0)) + 1
    codes = np.sort(person_of_row * width + action)
    pairs = codes[np.r_[True, codes[1:] != codes[:-1]]] if len(codes) else codes
    if len(pairs) < len(codes):
        stats["merged duplicate row"] = len(codes) - len(pairs)
    counts = np.bincount(pairs // width, minlength=len(first_rows))
    # Key frames in order of their first person.
    key_first, person_key = _row_groups([key[first_rows].astype(np.float64)])
    result = AnnotationTable(keys=[table.keys[k] for k in key[first_rows][key_first].tolist()],
                             person_key=person_key, boxes=boxes[first_rows],
                             action_start=np.r_[0, np.cumsum(counts)].astype(np.int64),
                             action_ids=(pairs % width).astype(np.int64), stats=stats)
    rows = len(table.key) + sum(table.skipped.values())
    _report(path, rows, stats, f"{len(first_rows)} boxes on {len(result.keys)} key frames")
    return result


def read_annotations(
    path: str,
    *,
    class_ids: Optional[Set[int]] = None,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
) -> Tuple[Dict[Tuple[str, int], List[AnnotatedBox]], Counter]:
    """:func:`read_annotation_table` as Python objects, for small files.

    Returns:
        boxes: ``{(video_id, timestamp): [AnnotatedBox, ...]}`` in file order.
        stats: counts of every quirk met (see the module docstring).

    Raises:
        ValueError: naming file and line of a malformed row.
    """
    table = read_annotation_table(path, class_ids=class_ids, valid_timestamps=valid_timestamps)
    result: Dict[Tuple[str, int], List[AnnotatedBox]] = {key: [] for key in table.keys}
    for person, key in enumerate(table.person_key.tolist()):
        box = tuple(table.boxes[person].tolist())
        result[table.keys[key]].append(AnnotatedBox(box=box, action_ids=set(table.actions_of(person).tolist())))
    return result, table.stats


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
