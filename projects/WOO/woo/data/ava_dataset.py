"""AVA-layout splits (AVA v2.1/v2.2, the synthetic set) and their key-frame records (the data contract's dataset dicts)."""
import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from woo.formats.ava_annotations import (
    AVA_VALID_TIMESTAMPS,
    FIRST_SECOND,
    FPS,
    AnnotatedBox,
    key_frame_index,
    read_annotations,
    read_exclusions,
    read_frame_list,
)
from woo.formats.label_map import read_labelmap

from .frames import frame_size
from .split_files import check_split_files

__all__ = ["AVASplit", "load_ava_records", "records_from_annotations"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AVASplit:
    """Files of one split in the AVA layout.

    Attributes:
        name: the split's catalog name.
        frames_dir: folder holding ``<video>/<video>_%06d.jpg``.
        frame_list: PySlowFast frame list of the split's videos.
        annotations: ground-truth CSV.
        label_map: training label map (its ids are the action columns kept).
        eval_label_map: label map whose ids are evaluated.
        exclusions: excluded-timestamps CSV, or None.
        num_actions: width of the multi-hot action vectors (column = id - 1).
        all_key_frames: False: one record per annotated key frame (AVA's
            files list only key frames with people). True: one record per key
            frame in ``valid_timestamps`` that the video has, people or not.
        valid_timestamps: inclusive range of annotated seconds.
        readme_section: the section of datasets/README.md that says how to get the files.
        evaluator_type: "ava" (frame-mAP@0.5, :mod:`woo.evaluation.frame_map`).
    """

    name: str
    frames_dir: str
    frame_list: str
    annotations: str
    label_map: str
    eval_label_map: str
    exclusions: Optional[str]
    num_actions: int
    all_key_frames: bool = False
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS
    readme_section: str = "Files each AVA version needs"
    evaluator_type: str = "ava"

    def required_files(self) -> List[Tuple[str, str]]:
        """(what, path) of every file or folder the split needs, exclusions included when set."""
        files = [
            ("frame list", self.frame_list),
            ("annotations", self.annotations),
            ("label map", self.label_map),
            ("evaluation label map", self.eval_label_map),
        ]
        if self.exclusions is not None:
            files.append(("excluded timestamps", self.exclusions))
        return files + [("frames folder", self.frames_dir)]


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
            sizes[video_id] = frame_size(frames[0])
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
    """Records of an :class:`AVASplit`, one per key frame.

    Every record: ``video_id`` (str), ``timestamp`` (int), ``frame_paths``
    (the video's frames, one list shared by its records), ``key_frame_index``
    (int), ``height``/``width`` (original frame size), ``boxes`` (K, 4)
    float32 normalized x1y1x2y2, ``actions`` (K, num_actions) float32 multi-hot.

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: naming file and line of malformed input, or a label map
            with ids beyond ``num_actions``.
    """
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
