"""Key-frame records, the data contract of every loader, held in a few numpy arrays.

One record per key frame, a dict with:

* ``video_id`` (str), ``timestamp`` (int: AVA's second, or the 1-based frame of JHMDB / UCF),
* ``frame_paths``: the video's frames, a sequence of paths (``len``, ``[i]``): a
  :class:`~woo.formats.frame_list.FramePaths`, shared by the video's records, or a list,
* ``key_frame_index`` (int): 0-based index of the key frame in ``frame_paths``,
* ``height`` / ``width`` (int): the frames' size on disk,
* ``boxes``: ``(K, 4)`` float32 normalized ``x1, y1, x2, y2``,
* ``actions``: ``(K, C)`` float32 multi-hot (one-hot on JHMDB / UCF), column = action id - 1.

:class:`KeyFrameRecords` is a map-style ``torch.utils.data.Dataset`` of such dicts. It keeps
them as arrays (boxes, action columns, per-record offsets) and builds a fresh dict on each
lookup, as detectron2's ``DatasetFromList(serialize=True)`` unpickles one: AVA's 184,804
training records take a few MB instead of gigabytes of Python objects, and a forked
DataLoader worker that reads them touches no shared object's reference count, so it copies
nothing. ``woo train``'s loaders, ``ClipMapper``, and the detectron2 binding's loaders and
mapper all read records through this contract.
"""
import itertools
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch.utils.data as torchdata

from woo.formats.frame_list import FramePaths

__all__ = ["KeyFrameRecords", "RecordsBuilder", "as_key_frame_records", "concat_ranges"]


class KeyFrameRecords(torchdata.Dataset):
    """Records of key frames (see the module docstring for each record's fields).

    Args:
        videos: ``(V,)`` video ids.
        frames: ``(V,)`` each video's frame paths.
        sizes: ``(V, 2)`` int (height, width) of each video's frames.
        video: ``(R,)`` int index into ``videos`` of each record.
        timestamp, key_frame_index: ``(R,)`` int.
        box_start: ``(R + 1,)`` int: record ``r``'s boxes are ``boxes[box_start[r]:box_start[r + 1]]``.
        boxes: ``(B, 4)`` float32 normalized.
        action_start: ``(B + 1,)`` int: box ``b``'s action columns are ``action_column[action_start[b]:
            action_start[b + 1]]``.
        action_column: ``(A,)`` int columns (action id - 1).
        num_actions: C, the width of the action vectors.
        skipped: ``{reason: [(video_id, timestamp), ...]}`` key frames left out while building
            (reported by the loaders and ``woo check-data``); not part of any record.
    """

    def __init__(self, *, videos: Sequence[str], frames: Sequence[Sequence[str]], sizes: np.ndarray,
                 video: np.ndarray, timestamp: np.ndarray, key_frame_index: np.ndarray, box_start: np.ndarray,
                 boxes: np.ndarray, action_start: np.ndarray, action_column: np.ndarray, num_actions: int,
                 skipped: Optional[Dict[str, List[Tuple[str, int]]]] = None):
        self.videos, self.frames = list(videos), list(frames)
        self.sizes = np.asarray(sizes, dtype=np.int32).reshape(-1, 2)
        self.video = np.asarray(video, dtype=np.int32)
        self.timestamp = np.asarray(timestamp, dtype=np.int64)
        self.key_frame_index = np.asarray(key_frame_index, dtype=np.int64)
        self.box_start = np.asarray(box_start, dtype=np.int64)
        self.boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        self.action_start = np.asarray(action_start, dtype=np.int64)
        self.action_column = np.asarray(action_column, dtype=np.int16 if num_actions < 2 ** 15 else np.int64)
        self.num_actions = int(num_actions)
        self.skipped = skipped if skipped is not None else {}
        if not (len(self.videos) == len(self.frames) == len(self.sizes)):
            raise ValueError("KeyFrameRecords: videos, frames and sizes differ in length")
        if len(self.box_start) != len(self.video) + 1 or len(self.action_start) != len(self.boxes) + 1:
            raise ValueError("KeyFrameRecords: offsets do not match the records or boxes")

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, index: int) -> Dict:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        v = int(self.video[index])
        begin, end = int(self.box_start[index]), int(self.box_start[index + 1])
        first, last = int(self.action_start[begin]), int(self.action_start[end])
        actions = np.zeros((end - begin, self.num_actions), dtype=np.float32)
        rows = np.repeat(np.arange(end - begin), np.diff(self.action_start[begin:end + 1]))
        actions[rows, self.action_column[first:last]] = 1.0
        return {
            "video_id": self.videos[v],
            "timestamp": int(self.timestamp[index]),
            "frame_paths": self.frames[v],
            "key_frame_index": int(self.key_frame_index[index]),
            "height": int(self.sizes[v, 0]),
            "width": int(self.sizes[v, 1]),
            "boxes": self.boxes[begin:end].copy(),
            "actions": actions,
        }

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def num_boxes(self) -> np.ndarray:
        """``(R,)`` actors per record."""
        return np.diff(self.box_start)

    def select(self, indices) -> "KeyFrameRecords":
        """The records at ``indices`` (int array), in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        counts = self.num_boxes[indices]
        box_index = concat_ranges(self.box_start[indices], counts)
        action_counts = np.diff(self.action_start)[box_index]
        action_index = concat_ranges(self.action_start[box_index], action_counts)
        return KeyFrameRecords(
            videos=self.videos, frames=self.frames, sizes=self.sizes, video=self.video[indices],
            timestamp=self.timestamp[indices], key_frame_index=self.key_frame_index[indices],
            box_start=np.r_[0, np.cumsum(counts)], boxes=self.boxes[box_index],
            action_start=np.r_[0, np.cumsum(action_counts)], action_column=self.action_column[action_index],
            num_actions=self.num_actions, skipped=self.skipped,
        )

    @classmethod
    def concatenate(cls, parts: Sequence["KeyFrameRecords"]) -> "KeyFrameRecords":
        """The records of ``parts`` one after the other (splits of the same action classes)."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        widths = {p.num_actions for p in parts}
        if len(widths) > 1:
            raise ValueError(f"datasets with different numbers of actions {sorted(widths)} cannot be loaded together")
        video_offsets = np.cumsum([0] + [len(p.videos) for p in parts])
        skipped: Dict[str, List[Tuple[str, int]]] = {}
        for part in parts:
            for reason, keys in part.skipped.items():
                skipped.setdefault(reason, []).extend(keys)
        return cls(
            videos=list(itertools.chain.from_iterable(p.videos for p in parts)),
            frames=list(itertools.chain.from_iterable(p.frames for p in parts)),
            sizes=np.concatenate([p.sizes for p in parts]),
            video=np.concatenate([p.video + offset for p, offset in zip(parts, video_offsets)]),
            timestamp=np.concatenate([p.timestamp for p in parts]),
            key_frame_index=np.concatenate([p.key_frame_index for p in parts]),
            box_start=_joined_offsets([p.box_start for p in parts]),
            boxes=np.concatenate([p.boxes for p in parts]),
            action_start=_joined_offsets([p.action_start for p in parts]),
            action_column=np.concatenate([p.action_column for p in parts]),
            num_actions=widths.pop(), skipped=skipped,
        )


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorized."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    return np.repeat(starts - offsets, counts) + np.arange(total)


def _joined_offsets(offsets: List[np.ndarray]) -> np.ndarray:
    shifts = np.cumsum([0] + [int(o[-1]) for o in offsets[:-1]])
    return np.concatenate([offsets[0]] + [o[1:] + shift for o, shift in zip(offsets[1:], shifts[1:])])


class RecordsBuilder:
    """Collects records one key frame at a time (JHMDB / UCF, dicts of other sources) into
    :class:`KeyFrameRecords`.

    Args:
        num_actions: C, the width of the action vectors.
    """

    def __init__(self, num_actions: int):
        self.num_actions = int(num_actions)
        self._videos: Dict[str, int] = {}
        self._frames: List[Sequence[str]] = []
        self._sizes: List[Tuple[int, int]] = []
        self._video, self._timestamp, self._key, self._num_boxes = [], [], [], []
        self._boxes: List[np.ndarray] = []
        self._actions: List[np.ndarray] = []  # (K, C) per record

    def add(self, *, video_id: str, frame_paths: Sequence[str], height: int, width: int, timestamp: int,
            key_frame_index: int, boxes: np.ndarray, actions: np.ndarray) -> None:
        """One record (the contract's fields); a video's frames and size are those of its first record."""
        if video_id not in self._videos:
            self._videos[video_id] = len(self._frames)
            self._frames.append(frame_paths)
            self._sizes.append((int(height), int(width)))
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        actions = np.asarray(actions).reshape(len(boxes), self.num_actions)
        self._video.append(self._videos[video_id])
        self._timestamp.append(int(timestamp))
        self._key.append(int(key_frame_index))
        self._num_boxes.append(len(boxes))
        self._boxes.append(boxes)
        self._actions.append(actions)

    def build(self, skipped: Optional[Dict[str, List[Tuple[str, int]]]] = None) -> KeyFrameRecords:
        actions = np.concatenate(self._actions) if self._actions else np.zeros((0, self.num_actions))
        box_of, column = np.nonzero(actions)
        return KeyFrameRecords(
            videos=list(self._videos), frames=self._frames, sizes=np.array(self._sizes, dtype=np.int32),
            video=np.array(self._video, dtype=np.int32), timestamp=np.array(self._timestamp, dtype=np.int64),
            key_frame_index=np.array(self._key, dtype=np.int64), box_start=np.r_[0, np.cumsum(self._num_boxes)],
            boxes=np.concatenate(self._boxes) if self._boxes else np.zeros((0, 4), np.float32),
            action_start=np.r_[0, np.cumsum(np.bincount(box_of, minlength=len(actions)))],
            action_column=column, num_actions=self.num_actions, skipped=skipped,
        )


def as_key_frame_records(records) -> KeyFrameRecords:
    """``records`` as :class:`KeyFrameRecords`: itself, or a list of record dicts (say, a dataset a
    detectron2 user registered) packed into one."""
    if isinstance(records, KeyFrameRecords):
        return records
    records = list(records)
    if not records:
        raise ValueError("no record to load")
    builder = RecordsBuilder(np.asarray(records[0]["actions"]).shape[1])
    frames: Dict[str, Sequence[str]] = {}  # one conversion per video: its records share its frames
    for record in records:
        video_id = record["video_id"]
        if video_id not in frames:
            paths = record["frame_paths"]
            frames[video_id] = paths if isinstance(paths, FramePaths) else FramePaths.from_paths(list(paths))
        builder.add(**{k: record[k] for k in ("video_id", "height", "width", "timestamp", "key_frame_index",
                                               "boxes", "actions")}, frame_paths=frames[video_id])
    return builder.build()
