"""Named dataset splits and where their files live.

The datasets root is ``$WOO_DATASETS`` (default ``./datasets``). AVA lives in
``<root>/ava`` in the PySlowFast layout (see ``datasets/README.md``); the
synthetic set lives in ``<root>/woo_synthetic`` in the same layout and is
generated on first use when missing. JHMDB-21 and UCF101-24 live in
``<root>/jhmdb`` and ``<root>/ucf24`` in the ACT layout (:mod:`woo.data.tube_dataset`);
each test split also has an ``_every8`` variant that tests every 8th frame.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from woo.data.ava_annotations import AVA_VALID_TIMESTAMPS

__all__ = ["AVASplit", "datasets_root", "list_splits", "get_split", "check_split_files", "load_dataset_dicts"]


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


def datasets_root() -> str:
    """``$WOO_DATASETS`` or ``./datasets``."""
    return os.environ.get("WOO_DATASETS", "./datasets")


# AVA release -> (label map of training, label map evaluated)
_AVA_LABEL_MAPS = {
    "v2.1": ("ava_action_list_v2.1.pbtxt", "ava_action_list_v2.1_for_activitynet_2018.pbtxt"),
    "v2.2": ("ava_action_list_v2.2.pbtxt", "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
}


def _ava_split(version: str, subset: str) -> AVASplit:
    base = os.path.join(datasets_root(), "ava")
    ann = os.path.join(base, "annotations")
    train_map, eval_map = _AVA_LABEL_MAPS[version]
    return AVASplit(
        name=f"ava_{version}_{subset}",
        frames_dir=os.path.join(base, "frames"),
        frame_list=os.path.join(base, "frame_lists", f"{subset}.csv"),
        annotations=os.path.join(ann, f"ava_{subset}_{version}.csv"),
        label_map=os.path.join(ann, train_map),
        eval_label_map=os.path.join(ann, eval_map),
        exclusions=os.path.join(ann, f"ava_{subset}_excluded_timestamps_{version}.csv"),
        num_actions=80,
    )


def _synthetic_split(subset: str) -> AVASplit:
    from woo.data import synthetic  # the generator pulls in OpenCV; only load it when asked

    base = synthetic.ensure_synthetic(os.path.join(datasets_root(), "woo_synthetic"))
    files = synthetic.split_files(base, subset)
    return AVASplit(name=f"woo_synthetic_{subset}", all_key_frames=True, **files)


def _tube_splits() -> Dict:
    from woo.data.tube_dataset import tube_split_factories

    return tube_split_factories(datasets_root)


_SPLITS = {
    **{f"ava_{v}_{s}": (lambda v=v, s=s: _ava_split(v, s)) for v in ("v2.1", "v2.2") for s in ("train", "val")},
    **{f"woo_synthetic_{s}": (lambda s=s: _synthetic_split(s)) for s in ("train", "val")},
    **_tube_splits(),
}


def list_splits() -> List[str]:
    """Names :func:`get_split` knows."""
    return list(_SPLITS)


def get_split(name: str) -> AVASplit:
    """Files of split ``name``; a synthetic split is generated first when missing.

    Raises:
        KeyError: for an unknown name, listing the known ones.
    """
    if name not in _SPLITS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(_SPLITS)}")
    return _SPLITS[name]()


def check_split_files(split) -> None:
    """Raise a one-line ``FileNotFoundError`` naming the first missing file of ``split``
    (an :class:`AVASplit` or a :class:`~woo.data.tube_dataset.TubeSplit`)
    and the README section that says where it comes from."""
    for what, path in split.required_files():
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"dataset {split.name!r}: {what} {path} not found; datasets/README.md, section "
                f"'{split.readme_section}', lists the files it needs (datasets root "
                f"{datasets_root()!r}, set by $WOO_DATASETS)"
            )


def load_dataset_dicts(name: str) -> List[Dict]:
    """One record per key frame of split ``name`` (see :func:`woo.data.dataset.load_ava_records`)."""
    from woo.data.dataset import load_ava_records
    from woo.data.tube_dataset import TubeSplit, load_tube_records

    split = get_split(name)
    return load_tube_records(split) if isinstance(split, TubeSplit) else load_ava_records(split)
