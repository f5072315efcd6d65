"""Key-frame records of an AVA-layout split (the data contract's dataset dicts)."""
import logging
import os
from collections import Counter
from typing import Dict, List, Tuple

import numpy as np

from woo.data.ava_annotations import (
    AVA_VALID_TIMESTAMPS,
    FIRST_SECOND,
    FPS,
    AnnotatedBox,
    key_frame_index,
    read_annotations,
    read_exclusions,
    read_frame_list,
)
from woo.data.ava_label_map import read_labelmap

__all__ = ["load_ava_records", "records_from_annotations"]

logger = logging.getLogger(__name__)


def _frame_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, reading only its header."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, ValueError) as e:
        raise OSError(f"cannot read frame {path}: {e}") from None
    return height, width


def records_from_annotations(
    annotations: Dict[Tuple[str, int], List[AnnotatedBox]],
    videos: Dict[str, List[str]],
    *,
    num_actions: int,
    excluded=frozenset(),
    all_key_frames: bool = False,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
    source: str = "",
) -> List[Dict]:
    """Build key-frame records from parsed annotations and frame lists.

    Args:
        annotations: ``{(video_id, timestamp): [AnnotatedBox]}``.
        videos: ``{video_id: [absolute frame path, ...]}``.
        num_actions: width of the action vectors; column = action id - 1.
        excluded: ``(video_id, timestamp)`` key frames to leave out.
        all_key_frames: also make records for key frames without people.
        valid_timestamps: inclusive range of seconds used with ``all_key_frames``.
        source: file name used in the report.

    Returns:
        Records sorted by (video_id, timestamp), as the data contract says.
    """
    stats: Counter = Counter()
    keys = set(annotations)
    if all_key_frames:
        for video_id, frames in videos.items():
            last = min(valid_timestamps[1], (len(frames) - 1) // FPS + FIRST_SECOND)
            keys.update((video_id, t) for t in range(valid_timestamps[0], last + 1))
    sizes: Dict[str, Tuple[int, int]] = {}
    records = []
    num_excluded = 0
    for video_id, timestamp in sorted(keys):
        if (video_id, timestamp) in excluded:
            num_excluded += 1
            continue
        frames = videos.get(video_id)
        if frames is None:
            stats["skipped key frame of a video missing from the frame list"] += 1
            continue
        index = key_frame_index(timestamp)
        if index >= len(frames):
            stats["skipped key frame past the video's last frame"] += 1
            continue
        people = annotations.get((video_id, timestamp), [])
        boxes = np.asarray([p.box for p in people], dtype=np.float32).reshape(-1, 4)
        actions = np.zeros((len(people), num_actions), dtype=np.float32)
        for row, person in enumerate(people):
            actions[row, [a - 1 for a in person.action_ids]] = 1.0
        if video_id not in sizes:
            sizes[video_id] = _frame_size(frames[0])
        height, width = sizes[video_id]
        records.append(
            {
                "video_id": video_id,
                "timestamp": timestamp,
                "frame_paths": frames,
                "key_frame_index": index,
                "height": height,
                "width": width,
                "boxes": boxes,
                "actions": actions,
            }
        )
    details = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    logger.log(
        logging.WARNING if stats else logging.INFO,
        "%s: %d key-frame records of %d videos, %d excluded key frames left out%s",
        source,
        len(records),
        len(sizes),
        num_excluded,
        f"; {details}" if details else "",
    )
    return records


def load_ava_records(split) -> List[Dict]:
    """Records of an :class:`woo.data.catalog.AVASplit`, one per key frame.

    Every record: ``video_id`` (str), ``timestamp`` (int), ``frame_paths``
    (the video's frames, one list shared by its records), ``key_frame_index``
    (int), ``height``/``width`` (original frame size), ``boxes`` (K, 4)
    float32 normalized x1y1x2y2, ``actions`` (K, num_actions) float32 multi-hot.

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: naming file and line of malformed input, or a label map
            with ids beyond ``num_actions``.
    """
    from woo.data.catalog import check_split_files

    check_split_files(split)
    _, class_ids = read_labelmap(split.label_map)
    if max(class_ids) > split.num_actions or min(class_ids) < 1:
        raise ValueError(f"{split.label_map}: action ids must lie in 1..{split.num_actions}, got {sorted(class_ids)}")
    excluded = frozenset()
    if split.exclusions is not None:
        excluded = frozenset(read_exclusions(split.exclusions))
    annotations, _ = read_annotations(split.annotations, class_ids=class_ids, valid_timestamps=split.valid_timestamps)
    videos = {
        video_id: [os.path.join(split.frames_dir, p) for p in frames]
        for video_id, frames in read_frame_list(split.frame_list).items()
    }
    return records_from_annotations(
        annotations,
        videos,
        num_actions=split.num_actions,
        excluded=excluded,
        all_key_frames=split.all_key_frames,
        valid_timestamps=split.valid_timestamps,
        source=split.annotations,
    )
