"""Checks of a dataset split before training on it (``woo check-data``).

A split is loaded as training loads it, then checked for what costs GPU days when it goes
unnoticed: key frames left out, clips that reach past a video's listed frames, listed frames
missing on disk or undecodable, frame counts that betray another frame rate or another
extraction than the frame list's (a known cause of several AVA mAP points lost), and frame
sizes. Every problem names the video or the file.
"""
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from woo.formats.ava_annotations import FPS

from .ava_dataset import AVASplit
from .catalog import class_names, get_split, load_dataset_dicts
from .records import KeyFrameRecords

__all__ = ["SplitReport", "check_split"]

@dataclass
class SplitReport:
    """What :func:`check_split` found in one split.

    Attributes:
        name: the split.
        videos, key_frames, boxes: how many the records have.
        actions: ``{action name: boxes with it}``.
        frames_per_video: ``{frames listed: videos}``.
        frame_sizes: ``{(height, width): videos}``.
        frames_checked: clip frames opened and decoded.
        problems: ``{kind: [line, ...]}``, each line naming the video or file.
    """

    name: str
    videos: int = 0
    key_frames: int = 0
    boxes: int = 0
    actions: Dict[str, int] = field(default_factory=dict)
    frames_per_video: Dict[int, int] = field(default_factory=dict)
    frame_sizes: Dict[Tuple[int, int], int] = field(default_factory=dict)
    frames_checked: int = 0
    problems: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def num_problems(self) -> int:
        return sum(len(lines) for lines in self.problems.values())

    def add(self, kind: str, lines: List[str]) -> None:
        if lines:
            self.problems.setdefault(kind, []).extend(lines)


def check_split(name: str, *, num_frames: int, sampling_rate: int, sample: int = 500, seed: int = 0) -> SplitReport:
    """Load split ``name`` and check it.

    Args:
        name: a split of :mod:`woo.data.catalog`.
        num_frames, sampling_rate: the clip around each key frame (``INPUT.NUM_FRAMES``,
            ``INPUT.SAMPLING_RATE``), whose frames are checked.
        sample: clip frames opened and decoded, drawn at random (``seed``) besides each video's
            first and last clip frame; 0 decodes every one.

    Returns:
        the report; a split that cannot be loaded has that as its one problem.
    """
    report = SplitReport(name=name)
    try:
        split = get_split(name)
        records = load_dataset_dicts(name)
    except KeyError as e:
        report.add("cannot load", [str(e.args[0] if e.args else e)])
        return report
    except (OSError, ValueError) as e:
        report.add("cannot load", [str(e)])
        return report
    report.videos, report.key_frames, report.boxes = len(records.videos), len(records), len(records.boxes)
    counts = np.bincount(records.action_column, minlength=records.num_actions)
    report.actions = dict(zip(class_names(name, records.num_actions), counts.tolist()))
    report.frames_per_video = dict(Counter(len(frames) for frames in records.frames))
    report.frame_sizes = dict(Counter(tuple(size) for size in records.sizes.tolist()))
    for reason, lines in _skipped_key_frames(records).items():
        report.add(reason, lines)
    expected = getattr(split, "frames_per_video", None)
    if expected:
        report.add("frame count", _frame_rate(records, expected, getattr(split, "fps", FPS)))
    # JHMDB / UCF clips are longer than many videos, and a set of woo prepare is annotated from its
    # videos' first second on: their clips' ends repeat the edge frames. AVA's frames cover every clip.
    if isinstance(split, AVASplit) and split.first_second > 0:
        report.add("clip past the listed frames", _clips_past_the_frames(records, num_frames, sampling_rate))
    report.add("frames on disk", _frames_on_disk(records))
    report.frames_checked, problems = _decode_sample(records, num_frames, sampling_rate, sample, seed)
    for kind, lines in problems.items():
        report.add(kind, lines)
    return report


def _seconds(values: Sequence[int]) -> str:
    values = sorted(values)
    return f"{values[0]}" if len(values) == 1 else f"{values[0]}..{values[-1]}"


def _skipped_key_frames(records: KeyFrameRecords) -> Dict[str, List[str]]:
    problems = {}
    for reason, keys in sorted(records.skipped.items()):
        per_video: Dict[str, List[int]] = {}
        for video_id, timestamp in keys:
            per_video.setdefault(video_id, []).append(timestamp)
        what = reason.replace("skipped key frame", "").strip()
        problems[f"key frame {what}"] = [
            f"video {video_id}: {len(stamps)} annotated key frame(s) {what} ({_seconds(stamps)}), left out"
            for video_id, stamps in sorted(per_video.items())]
    return problems


def _frame_rate(records: KeyFrameRecords, expected: int, fps: float) -> List[str]:
    """Videos whose frame count is not the split's: another frame rate or duration at extraction."""
    seconds = expected / fps
    problems = []
    for video_id, frames in zip(records.videos, records.frames):
        if len(frames) != expected:
            problems.append(
                f"video {video_id}: {len(frames)} frames listed, {expected} expected ({seconds:g} s at {fps:g} FPS): "
                f"{len(frames) / seconds:.2f} frames per second over those seconds; extract at {fps:g} FPS "
                "(datasets/README.md)"
            )
    return problems


def _clip_offsets(num_frames: int, sampling_rate: int) -> np.ndarray:
    """Offsets of a clip's frames from its key frame (as :func:`woo.data.clip_sampling.clip_frame_indices`)."""
    return (np.arange(num_frames, dtype=np.int64) - num_frames // 2) * sampling_rate


def _clips_past_the_frames(records: KeyFrameRecords, num_frames: int, sampling_rate: int) -> List[str]:
    offsets = _clip_offsets(num_frames, sampling_rate)
    lengths = np.array([len(frames) for frames in records.frames], dtype=np.int64)[records.video]
    outside = (records.key_frame_index + offsets[0] < 0) | (records.key_frame_index + offsets[-1] >= lengths)
    problems = []
    for v in np.unique(records.video[outside]).tolist():
        mine = np.flatnonzero(outside & (records.video == v))
        problems.append(
            f"video {records.videos[v]}: the clips of {len(mine)} key frame(s) ({_seconds(records.timestamp[mine])}) "
            f"reach past its {len(records.frames[v])} listed frames ({num_frames} frames {sampling_rate} apart; "
            "the edge frames would repeat): frames are missing from the frame list"
        )
    return problems


def _frames_on_disk(records: KeyFrameRecords) -> List[str]:
    """Each video's listed frames against the files in its folder."""
    problems = []
    for video_id, frames in zip(records.videos, records.frames):
        if not len(frames):
            continue
        folder, first = os.path.split(frames[0])
        suffix = os.path.splitext(first)[1]
        try:
            on_disk = {entry.name for entry in os.scandir(folder) if entry.name.endswith(suffix)}
        except OSError:
            problems.append(f"video {video_id}: frames folder {folder} not found")
            continue
        if len(on_disk) == len(frames) and first in on_disk and os.path.basename(frames[-1]) in on_disk:
            continue
        listed = [os.path.basename(path) for path in frames if os.path.dirname(path) == folder]
        missing = [name for name in listed if name not in on_disk]
        if missing:
            problems.append(f"video {video_id}: {len(missing)} of its {len(frames)} listed frames are not in {folder}, "
                            f"e.g. {', '.join(missing[:3])}")
        elif len(on_disk) > len(listed):
            problems.append(
                f"video {video_id}: {len(on_disk)} {suffix} frames in {folder} but {len(frames)} listed: the frame "
                "list was built from other frames (another extraction or frame rate?); build it again "
                "(datasets/README.md)"
            )
    return problems


def _decode_sample(records: KeyFrameRecords, num_frames: int, sampling_rate: int, sample: int,
                   seed: int) -> Tuple[int, Dict[str, List[str]]]:
    """Open and decode clip frames: ``sample`` at random (0: all) and each video's first and last."""
    lengths = np.array([len(frames) for frames in records.frames], dtype=np.int64)
    span = int(lengths.max(initial=1))
    needed = np.clip(records.key_frame_index[:, None] + _clip_offsets(num_frames, sampling_rate)[None],
                     0, lengths[records.video][:, None] - 1)
    codes = np.unique(records.video.astype(np.int64)[:, None] * span + needed)
    if sample and len(codes) > sample:
        ends = np.r_[np.flatnonzero(np.diff(codes // span)), len(codes) - 1]
        edges = np.unique(np.r_[0, ends[:-1] + 1, ends])  # each video's first and last clip frame
        drawn = np.random.default_rng(seed).choice(len(codes), sample, replace=False)
        codes = codes[np.unique(np.r_[edges, drawn])]
    problems: Dict[str, List[str]] = {"missing frame": [], "undecodable frame": [], "frame size": []}
    for code in codes.tolist():
        v, index = divmod(code, span)
        path = records.frames[v][index]
        if not os.path.isfile(path):
            problems["missing frame"].append(f"video {records.videos[v]}: missing frame {path}")
            continue
        try:
            with Image.open(path) as image:
                image.load()
                width, height = image.size
        except (OSError, SyntaxError, ValueError) as e:
            problems["undecodable frame"].append(f"video {records.videos[v]}: cannot decode frame {path} ({e})")
            continue
        if (height, width) != tuple(records.sizes[v]):
            h, w = records.sizes[v].tolist()
            problems["frame size"].append(f"video {records.videos[v]}: frame {path} is {height}x{width} (HxW), the video's "
                                    f"first frame {h}x{w}")
    return len(codes), problems
