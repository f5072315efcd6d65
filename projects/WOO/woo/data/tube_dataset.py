"""JHMDB-21 and UCF101-24 splits (ACT ground-truth pickles) as key-frame records.

The records have exactly the AVA records' form (the contract of :mod:`woo.data.records`),
so the mapper, the loaders and both engines read these datasets unchanged: ``timestamp``
is the 1-based frame number and ``key_frame_index`` its 0-based index into ``frame_paths``
(a :class:`~woo.formats.frame_list.FramePaths` pattern); each actor's action vector is
one-hot (one action per actor on these datasets).

* Training: every frame with at least one annotated actor is a key frame
  (UCF101-24 annotates actors only inside their tubes; frames outside every
  tube are not used).
* Test: every frame of every test video is a key frame, or every k-th
  (``frame_stride``: frames 1, 1 + k, 1 + 2k, ...). With k > 1 frame-mAP is
  computed on the tested frames only (ground truth on the other frames is not
  counted), and the linker builds tubes from the tested frames, interpolating
  boxes in between: faster, and an estimate of the every-frame figures.
"""
import functools
import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np

from woo.formats.act_groundtruth import ActGroundTruth, read_act_groundtruth
from woo.formats.boxes import boxes_to_unit
from woo.formats.frame_list import FramePaths

from .frames import frame_size
from .records import KeyFrameRecords, RecordsBuilder

__all__ = ["TubeSplit", "load_tube_records", "tube_frame_paths", "tube_split_factories", "split_names",
           "TEST_STRIDE_VARIANT"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TubeSplit:
    """One split of a dataset in the ACT layout.

    Attributes:
        name: the split's catalog name.
        groundtruth: the ACT ground-truth pickle.
        frames_dir: folder holding ``<video>/<frame_pattern>``.
        frame_pattern: file name of 1-based frame ``i``, e.g. ``"{:05d}.png"``.
        subset: "train" or "test".
        split: 1-based split number of the pickle's ``train_videos`` / ``test_videos``.
        frame_stride: test only: every k-th frame is evaluated.
        evaluator_type: "tube" (frame-mAP and video-mAP, :mod:`woo.evaluation.tube_map`).
    """

    name: str
    groundtruth: str
    frames_dir: str
    frame_pattern: str
    subset: str
    split: int = 1
    frame_stride: int = 1
    evaluator_type: str = "tube"
    readme_section: str = "JHMDB-21 and UCF101-24"

    def required_files(self) -> List[Tuple[str, str]]:
        """(what, path) of every file or folder the split needs."""
        return [("ground-truth pickle", self.groundtruth), ("frames folder", self.frames_dir)]

    def read_groundtruth(self) -> ActGroundTruth:
        """The checked :class:`~woo.formats.act_groundtruth.ActGroundTruth`."""
        if not os.path.isfile(self.groundtruth):
            raise FileNotFoundError(
                f"{self.name}: ground-truth pickle not found: {self.groundtruth} "
                "(set $WOO_DATASETS; datasets/README.md says how to get JHMDB-21 and UCF101-24)"
            )
        return read_act_groundtruth(self.groundtruth)

    def videos(self, groundtruth) -> List[str]:
        return groundtruth.videos(self.subset, self.split)


# Every test split also exists as "<name>_every8": every 8th frame tested.
TEST_STRIDE_VARIANT = 8

# dataset folder, pickle, frame file name, number of splits
_DATASETS = {
    "jhmdb21": ("jhmdb", "JHMDB-GT.pkl", "{:05d}.png", 3),
    "ucf24": ("ucf24", "UCF101v2-GT.pkl", "{:05d}.jpg", 1),
}


def _real_split(root: Callable[[], str], dataset: str, subset: str, split: int, stride: int, name: str) -> TubeSplit:
    folder, pickle_name, pattern, _ = _DATASETS[dataset]
    base = os.path.join(root(), folder)
    return TubeSplit(name=name, groundtruth=os.path.join(base, pickle_name), frames_dir=os.path.join(base, "Frames"),
                     frame_pattern=pattern, subset=subset, split=split, frame_stride=stride)


def tube_split_factories(root: Callable[[], str]) -> Dict[str, Callable[[], TubeSplit]]:
    """``{name: () -> TubeSplit}`` of every JHMDB-21 and UCF101-24 split.

    Names: ``jhmdb21_split{1,2,3}_{train,test}``, ``ucf24_{train,test}``, and ``<test split>_every8``.

    Args:
        root: returns the datasets root (``$WOO_DATASETS``), read when a split is built.
    """
    factories = {}
    for dataset, (_, _, _, num_splits) in _DATASETS.items():
        for split in range(1, num_splits + 1):
            prefix = f"{dataset}_split{split}" if num_splits > 1 else dataset
            for name, subset, stride in split_names(prefix):
                factories[name] = functools.partial(_real_split, root, dataset, subset, split, stride, name)
    return factories


def split_names(prefix: str):
    """(name, subset, frame stride): ``<prefix>_train``, ``<prefix>_test`` and ``<prefix>_test_every8``."""
    return [(f"{prefix}_train", "train", 1), (f"{prefix}_test", "test", 1),
            (f"{prefix}_test_every{TEST_STRIDE_VARIANT}", "test", TEST_STRIDE_VARIANT)]


def tube_frame_paths(split: TubeSplit, video: str, num_frames: int) -> FramePaths:
    """Paths of frames 1..num_frames of ``video``."""
    return FramePaths(os.path.join(split.frames_dir, video), num_frames, pattern=split.frame_pattern, first=1)


def _boxes_at_frames(tubes: Dict[int, List[np.ndarray]]) -> Dict[int, List]:
    """``{frame: [(x1, y1, x2, y2), label]}`` over every tube of a video."""
    per_frame: Dict[int, List] = {}
    for label, label_tubes in sorted(tubes.items()):
        for tube in label_tubes:
            for row in tube:
                per_frame.setdefault(int(row[0]), []).append((row[1:5], label))
    return per_frame


def load_tube_records(split: TubeSplit) -> KeyFrameRecords:
    """Key-frame records of ``split``, sorted by (video, frame).

    Every record (:mod:`woo.data.records`): ``video_id``, ``timestamp`` (1-based frame),
    ``frame_paths``, ``key_frame_index``, ``height``/``width`` (the pickle's resolution),
    ``boxes`` (K, 4) float32 normalized x1y1x2y2, ``actions`` (K, C) float32 one-hot.

    Raises:
        FileNotFoundError: the pickle, or a video's first or last frame, is missing.
        ValueError: a malformed pickle (naming file and key or video), or a
            frame whose size differs from the pickle's resolution.
    """
    if split.frame_stride < 1:
        raise ValueError(f"{split.name}: frame_stride must be >= 1, got {split.frame_stride}")
    gt = split.read_groundtruth()
    num_classes = len(gt.labels)
    stats: Counter = Counter()
    builder = RecordsBuilder(num_classes)
    for video in sorted(split.videos(gt)):
        num_frames = gt.nframes[video]
        height, width = gt.resolution[video]
        paths = tube_frame_paths(split, video, num_frames)
        _check_frames(paths, video, (height, width), split)
        per_frame = _boxes_at_frames(gt.gttubes.get(video, {}))
        if split.subset == "train":
            frames = [f for f in sorted(per_frame) if f <= num_frames]
            stats["annotated frames past the video's last frame"] += len(per_frame) - len(frames)
        else:
            frames = range(1, num_frames + 1, split.frame_stride)
        for frame in frames:
            people = per_frame.get(frame, [])
            boxes = boxes_to_unit(np.array([box for box, _ in people], dtype=np.float64).reshape(-1, 4), height, width)
            clipped = np.clip(boxes, 0.0, 1.0)
            stats["boxes clipped to the frame"] += int(np.any(clipped != boxes, axis=1).sum())
            actions = np.zeros((len(people), num_classes), dtype=np.float32)
            actions[np.arange(len(people)), [label for _, label in people]] = 1.0
            builder.add(video_id=video, timestamp=frame, frame_paths=paths, key_frame_index=frame - 1,
                        height=height, width=width, boxes=clipped, actions=actions)
    records = builder.build()
    details = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()) if count)
    logger.log(
        logging.WARNING if details else logging.INFO,
        "%s: %d key-frame records of %d videos (split %d, every %d frame(s))%s",
        split.name, len(records), len(split.videos(gt)), split.split, split.frame_stride,
        f"; {details}" if details else "",
    )
    return records


def _check_frames(paths: List[str], video: str, resolution, split: TubeSplit) -> None:
    """The first and last frames exist and the first has the pickle's size."""
    for path in (paths[0], paths[-1]):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{split.name}: video {video!r} has {len(paths)} frames in {split.groundtruth}, "
                f"but frame {path} is missing"
            )
    size = frame_size(paths[0])
    if size != tuple(resolution):
        raise ValueError(
            f"{split.name}: {paths[0]} is {size[0]}x{size[1]} (HxW) but {split.groundtruth} "
            f"gives resolution {resolution[0]}x{resolution[1]} for video {video!r}"
        )
