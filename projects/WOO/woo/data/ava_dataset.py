"""AVA-layout splits (AVA v2.1/v2.2, the synthetic set) and their key-frame records (the data contract's dataset dicts)."""
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from woo.formats.ava_annotations import (
    AVA_VALID_TIMESTAMPS,
    FIRST_SECOND,
    FPS,
    AnnotationTable,
    key_frame_index,
    read_annotation_table,
    read_exclusions,
    read_frame_list,
)
from woo.formats.frame_list import FramePaths
from woo.formats.label_map import read_labelmap

from .frames import frame_size
from .records import KeyFrameRecords, concat_ranges
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
        frames_per_video: frames every video has (AVA: seconds 900..1801 at 30 FPS, 27,030);
            ``woo check-data`` reports videos with another count. None: videos may differ.
        readme_section: the section of datasets/README.md that says how to get the files.
        evaluator_type: "ava" (frame-mAP@0.5, :mod:`woo.evaluation.frame_map`).
        fps: the frame rate of the frames on disk (AVA: 30).
        first_second: the second of each video's frame 0 (AVA: 900; ``woo prepare``: 0).
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
    frames_per_video: Optional[int] = None
    readme_section: str = "Files each AVA version needs"
    evaluator_type: str = "ava"
    fps: float = FPS
    first_second: int = FIRST_SECOND

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
    annotations: AnnotationTable,
    videos: Dict[str, FramePaths],
    *,
    num_actions: int,
    excluded=frozenset(),
    all_key_frames: bool = False,
    valid_timestamps: Tuple[int, int] = AVA_VALID_TIMESTAMPS,
    source: str = "",
    fps: float = FPS,
    first_second: int = FIRST_SECOND,
) -> KeyFrameRecords:
    """Build key-frame records from parsed annotations and frame lists.

    Args:
        annotations: the people of the ground-truth CSV (:func:`~woo.formats.ava_annotations.read_annotation_table`).
        videos: ``{video_id: frame paths}`` (absolute, or relative to the working directory).
        num_actions: width of the action vectors; column = action id - 1.
        excluded: ``(video_id, timestamp)`` key frames to leave out.
        all_key_frames: also make records for key frames without people.
        valid_timestamps: inclusive range of seconds used with ``all_key_frames``.
        source: file name used in the report.
        fps, first_second: the frames' rate and the second of frame 0 (AVA: 30 and 900).

    Returns:
        Records sorted by (video_id, timestamp), as the data contract (:mod:`woo.data.records`)
        says; the key frames left out are in its ``skipped``.
    """
    names = sorted(set(videos) | {video_id for video_id, _ in annotations.keys})
    index = {name: i for i, name in enumerate(names)}
    annotated_video = np.array([index[video_id] for video_id, _ in annotations.keys], dtype=np.int64)
    annotated_second = np.array([timestamp for _, timestamp in annotations.keys], dtype=np.int64)
    key_video, key_second = annotated_video, annotated_second
    if all_key_frames:
        extra_video, extra_second = [], []
        for video_id, frames in videos.items():
            last = min(valid_timestamps[1], int((len(frames) - 1) // fps) + first_second)
            seconds = np.arange(valid_timestamps[0], last + 1)
            extra_video.append(np.full(len(seconds), index[video_id]))
            extra_second.append(seconds)
        key_video = np.concatenate([key_video, *extra_video]).astype(np.int64)
        key_second = np.concatenate([key_second, *extra_second]).astype(np.int64)
    # One entry per key frame, sorted by (video_id, timestamp); codes tell key frames apart.
    span = int(key_second.max(initial=0)) + 1
    codes = np.unique(key_video * span + key_second)
    key_video, key_second = codes // span, codes % span
    person_code = (annotated_video * span + annotated_second)[annotations.person_key]
    skipped: Dict[str, List[Tuple[str, int]]] = {}
    drop = np.zeros(len(codes), dtype=bool)
    excluded_codes = np.array([index[v] * span + t for v, t in excluded if v in index and 0 <= t < span],
                              dtype=np.int64)
    is_excluded = np.isin(codes, excluded_codes)
    lengths = np.array([len(videos[name]) if name in videos else -1 for name in names], dtype=np.int64)
    key_index = key_frame_index(key_second, fps, first_second)
    for reason, mask in (("skipped key frame of a video missing from the frame list", lengths[key_video] < 0),
                         ("skipped key frame past the video's last frame",
                          (lengths[key_video] >= 0) & (key_index >= lengths[key_video]))):
        mask &= ~is_excluded & ~drop
        if mask.any():
            skipped[reason] = [(names[v], int(t)) for v, t in zip(key_video[mask].tolist(), key_second[mask].tolist())]
        drop |= mask
    kept = np.flatnonzero(~drop & ~is_excluded)
    # People of each kept key frame, in file order.
    record_of_person = np.searchsorted(codes[kept], person_code)
    found = record_of_person < len(kept)
    found[found] = codes[kept][record_of_person[found]] == person_code[found]
    people = np.flatnonzero(found)
    people = people[np.argsort(record_of_person[people], kind="stable")]
    counts = np.bincount(record_of_person[people], minlength=len(kept))
    action_counts = np.diff(annotations.action_start)[people]
    action_index = concat_ranges(annotations.action_start[people], action_counts)
    used = np.unique(key_video[kept])
    video_slot = np.full(len(names), -1, dtype=np.int64)
    video_slot[used] = np.arange(len(used))
    # One header read per video: the size of its first frame.
    sizes = np.array([frame_size(videos[names[v]][0]) for v in used.tolist()], dtype=np.int32).reshape(-1, 2)
    records = KeyFrameRecords(
        videos=[names[v] for v in used.tolist()], frames=[videos[names[v]] for v in used.tolist()], sizes=sizes,
        video=video_slot[key_video[kept]], timestamp=key_second[kept], key_frame_index=key_index[kept],
        box_start=np.r_[0, np.cumsum(counts)], boxes=annotations.boxes[people],
        action_start=np.r_[0, np.cumsum(action_counts)], action_column=annotations.action_ids[action_index] - 1,
        num_actions=num_actions, skipped=skipped,
    )
    details = ", ".join(f"{reason}: {len(keys)}" for reason, keys in sorted(skipped.items()))
    logger.log(
        logging.WARNING if skipped else logging.INFO,
        "%s: %d key-frame records of %d videos, %d excluded key frames left out%s",
        source,
        len(records),
        len(used),
        int(is_excluded.sum()),
        f"; {details}" if details else "",
    )
    return records


def load_ava_records(split) -> KeyFrameRecords:
    """Records of an :class:`AVASplit`, one per key frame (the contract of :mod:`woo.data.records`:
    ``frame_paths`` is the video's :class:`~woo.formats.frame_list.FramePaths` under ``frames_dir``,
    ``height``/``width`` the size of its first frame, ``actions`` (K, num_actions) multi-hot).

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
    annotations = read_annotation_table(split.annotations, class_ids=class_ids,
                                        valid_timestamps=split.valid_timestamps)
    videos = {video_id: frames.with_root(split.frames_dir)
              for video_id, frames in read_frame_list(split.frame_list).items()}
    return records_from_annotations(
        annotations,
        videos,
        num_actions=split.num_actions,
        excluded=excluded,
        all_key_frames=split.all_key_frames,
        valid_timestamps=split.valid_timestamps,
        source=split.annotations,
        fps=split.fps,
        first_second=split.first_second,
    )
