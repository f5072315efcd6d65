"""Sets written by ``woo prepare``: their ``dataset.yaml`` and the splits it describes.

A prepared set is a folder in the AVA layout, timed from each video's start::

    OUT/dataset.yaml                    what the set holds (below)
    OUT/frames/<video>/<video>_%06d.jpg  frames at ``fps``, frame 1 at second 0
    OUT/frame_lists/<split>.csv          PySlowFast frame lists
    OUT/annotations/<split>.csv          ``video_id,second,x1,y1,x2,y2,action_id,person_id``
    OUT/annotations/label_map.pbtxt      the classes trained and evaluated

``dataset.yaml`` (paths relative to its folder)::

    format: woo-prepared-v1
    fps: 30
    num_classes: 4              # action columns: the label map's largest id
    label_map: annotations/label_map.pbtxt
    eval_label_map: annotations/label_map.pbtxt
    frames_dir: frames
    splits:
      train: {frame_list: ..., annotations: ..., videos: 3, key_frames: 12, boxes: 20,
              key_frame_seconds: [0, 8]}
    videos:
      clip1: {frames: 300, seconds: 10.0, source: clip1.mp4, source_fps: 25.0}

A config names a split as ``"OUT/dataset.yaml:train"``.
"""
import os
from typing import Dict, Optional, Tuple

import yaml

from woo.formats.atomic import atomic_write

from .ava_dataset import AVASplit

__all__ = ["FORMAT", "DATASET_FILE", "is_prepared_name", "parse_prepared_name", "read_dataset_yaml",
           "write_dataset_yaml", "prepared_split"]

FORMAT = "woo-prepared-v1"
DATASET_FILE = "dataset.yaml"
_REQUIRED = ("fps", "num_classes", "label_map", "frames_dir", "splits")


def is_prepared_name(name: str) -> bool:
    """Whether ``name`` names a split of a prepared set (``PATH.yaml:SPLIT``)."""
    path, _, subset = name.rpartition(":")
    return bool(subset) and path.endswith((".yaml", ".yml"))


def parse_prepared_name(name: str) -> Tuple[str, str]:
    """``(path of dataset.yaml, split)`` of ``"PATH.yaml:SPLIT"``."""
    path, _, subset = name.rpartition(":")
    return path, subset


def write_dataset_yaml(path: str, description: Dict) -> None:
    """Write ``description`` (the schema of the module docstring, ``format`` added) atomically."""
    with atomic_write(path) as f:
        yaml.safe_dump({"format": FORMAT, **description}, f, sort_keys=False, default_flow_style=None)


def read_dataset_yaml(path: str) -> Dict:
    """The description a ``dataset.yaml`` holds, its paths made absolute.

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: naming the file and the key that is missing or wrong.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found (write it with woo prepare)")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a set written by woo prepare (format: {FORMAT} missing)")
    for key in _REQUIRED:
        if key not in data:
            raise ValueError(f"{path}: key {key!r} missing")
    if not isinstance(data["splits"], dict) or not data["splits"]:
        raise ValueError(f"{path}: 'splits' must map split names to their files")
    root = os.path.dirname(os.path.abspath(path))
    absolute = lambda p: os.path.normpath(os.path.join(root, p))  # noqa: E731
    data = dict(data)
    data["label_map"] = absolute(data["label_map"])
    data["eval_label_map"] = absolute(data.get("eval_label_map") or data["label_map"])
    data["frames_dir"] = absolute(data["frames_dir"])
    splits = {}
    for subset, files in data["splits"].items():
        for key in ("frame_list", "annotations"):
            if not isinstance(files, dict) or key not in files:
                raise ValueError(f"{path}: splits.{subset}.{key} missing")
        splits[subset] = {**files, "frame_list": absolute(files["frame_list"]),
                          "annotations": absolute(files["annotations"])}
    data["splits"] = splits
    return data


def prepared_split(path: str, subset: str, name: Optional[str] = None) -> AVASplit:
    """Split ``subset`` of the prepared set whose ``dataset.yaml`` is ``path``.

    Args:
        name: the split's name (default ``"PATH:SUBSET"``, as a config names it).

    Raises:
        KeyError: naming the splits the set has, for another ``subset``.
    """
    data = read_dataset_yaml(path)
    if subset not in data["splits"]:
        raise KeyError(f"{path} has no split {subset!r}; it has {', '.join(data['splits'])}")
    files = data["splits"][subset]
    seconds = files.get("key_frame_seconds") or [0, 0]
    return AVASplit(
        name=name or f"{path}:{subset}",
        frames_dir=data["frames_dir"],
        frame_list=files["frame_list"],
        annotations=files["annotations"],
        label_map=data["label_map"],
        eval_label_map=data["eval_label_map"],
        exclusions=None,
        num_actions=int(data["num_classes"]),
        valid_timestamps=(int(seconds[0]), int(seconds[1])),
        readme_section="Sets written by woo prepare",
        fps=float(data["fps"]),
        first_second=0,
    )
