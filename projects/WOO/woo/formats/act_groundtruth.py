"""Ground truth of JHMDB-21 and UCF101-24 in the ACT detector's pickle layout.

``JHMDB-GT.pkl`` and ``UCF101v2-GT.pkl`` (Kalogeiton et al., ICCV 2017; used by
MOC, YOWO and most later work) hold one dict:

* ``labels``: class names, index = label;
* ``gttubes``: ``{video: {label: [array (n, 5): frame (1-based), x1, y1, x2, y2 in pixels]}}``;
* ``nframes``: ``{video: number of frames}``;
* ``train_videos`` / ``test_videos``: one list of videos per split (3 for JHMDB, 1 for UCF);
* ``resolution``: ``{video: (height, width)}``.

The files are Python 2 pickles of numpy arrays. They are read with an
unpickler that builds only numpy arrays and plain containers, so a pickle
cannot run code, and every key, video and tube is checked: a problem raises
``ValueError`` naming the file and the key or video.
"""
import logging
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from woo.formats.safe_pickle import load_array_pickle

__all__ = ["ActGroundTruth", "read_act_groundtruth", "load_act_pickle"]

logger = logging.getLogger(__name__)

def load_act_pickle(path: str):
    """Unpickle ``path`` allowing only numpy arrays and plain containers (Python 2 pickles too)."""
    return load_array_pickle(path, "ground-truth pickle")


@dataclass
class ActGroundTruth:
    """A checked ACT ground-truth pickle.

    Attributes:
        path: the file it was read from.
        labels: class names; label ``i`` is ``labels[i]``.
        gttubes: ``{video: {label: [tube (n, 5) as stored: frame, x1, y1, x2, y2]}}``,
            frames strictly increasing and consecutive.
        nframes: ``{video: frames}``.
        train_videos / test_videos: per split, the list of videos.
        resolution: ``{video: (height, width)}``.
    """

    path: str
    labels: List[str]
    gttubes: Dict[str, Dict[int, List[np.ndarray]]]
    nframes: Dict[str, int]
    train_videos: List[List[str]]
    test_videos: List[List[str]]
    resolution: Dict[str, Tuple[int, int]]

    @property
    def num_splits(self) -> int:
        return len(self.test_videos)

    def videos(self, subset: str, split: int = 1) -> List[str]:
        """Videos of ``subset`` ("train" / "test") of split ``split`` (1-based)."""
        lists = {"train": self.train_videos, "test": self.test_videos}[subset]
        if not 1 <= split <= len(lists):
            raise ValueError(f"{self.path}: split {split} does not exist; the file has splits 1..{len(lists)}")
        return lists[split - 1]


def read_act_groundtruth(path: str) -> ActGroundTruth:
    """Read and check an ACT ground-truth pickle.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file and the key, video or tube that is malformed.
    """
    data = load_act_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, got {type(data).__name__}")
    missing = [k for k in ("labels", "gttubes", "nframes", "train_videos", "test_videos", "resolution") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (has {sorted(map(str, data))})")
    labels = [str(name) for name in data["labels"]]
    if not labels:
        raise ValueError(f"{path}: key 'labels' is empty")
    nframes = {str(v): _positive_int(n, path, f"nframes[{v!r}]") for v, n in dict(data["nframes"]).items()}
    resolution = {}
    for video, size in dict(data["resolution"]).items():
        size = np.asarray(size).reshape(-1)
        if size.shape != (2,) or not np.all(size > 0):
            raise ValueError(f"{path}: resolution[{video!r}] must be (height, width) > 0, got {size.tolist()}")
        resolution[str(video)] = (int(size[0]), int(size[1]))
    splits = {}
    for key in ("train_videos", "test_videos"):
        lists = [[str(v) for v in videos] for videos in data[key]]
        if not lists:
            raise ValueError(f"{path}: key {key!r} has no split")
        for i, videos in enumerate(lists):
            for video in videos:
                for table, name in ((nframes, "nframes"), (resolution, "resolution")):
                    if video not in table:
                        raise ValueError(f"{path}: video {video!r} of {key}[{i}] has no entry in {name!r}")
        splits[key] = lists
    if len(splits["train_videos"]) != len(splits["test_videos"]):
        raise ValueError(f"{path}: {len(splits['train_videos'])} train splits but {len(splits['test_videos'])} test splits")
    gttubes = {}
    for video, per_label in dict(data["gttubes"]).items():
        video = str(video)
        if video not in nframes:
            raise ValueError(f"{path}: gttubes video {video!r} has no entry in 'nframes'")
        gttubes[video] = {}
        for label, tubes in dict(per_label).items():
            if not (isinstance(label, (int, np.integer)) and 0 <= label < len(labels)):
                raise ValueError(f"{path}: gttubes[{video!r}] has label {label!r}, not in 0..{len(labels) - 1}")
            gttubes[video][int(label)] = [
                _check_tube(t, path, f"gttubes[{video!r}][{label}][{i}]", nframes[video]) for i, t in enumerate(tubes)
            ]
    return ActGroundTruth(path, labels, gttubes, nframes, splits["train_videos"], splits["test_videos"], resolution)


def _positive_int(value, path: str, where: str) -> int:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{path}: {where} must be a positive integer, got {value!r}")
    return int(value)


def _check_tube(tube, path: str, where: str, num_frames: int) -> np.ndarray:
    tube = np.asarray(tube)
    if tube.ndim != 2 or tube.shape[1] != 5 or tube.shape[0] == 0:
        raise ValueError(f"{path}: {where} must be an array (n >= 1, 5), got shape {tube.shape}")
    if not np.issubdtype(tube.dtype, np.number) or not np.all(np.isfinite(tube)):
        raise ValueError(f"{path}: {where} holds non-finite or non-numeric values")
    frames = tube[:, 0]
    if frames.min() < 1 or np.any(frames != np.round(frames)):
        raise ValueError(f"{path}: {where} has frames that are not integers >= 1")
    if frames.max() > num_frames:
        # Kept, as ACT keeps them (they count as missed ground truth); the readers report them.
        logger.warning("%s: %s has frames up to %d, past the video's %d frames", path, where, frames.max(), num_frames)
    if np.any(np.diff(frames) != 1):
        raise ValueError(f"{path}: {where} frames are not consecutive (video-mAP needs whole tubes)")
    if np.any(tube[:, 3] < tube[:, 1]) or np.any(tube[:, 4] < tube[:, 2]):
        raise ValueError(f"{path}: {where} has a box with x2 < x1 or y2 < y1")
    return tube
