"""CVAT's "CVAT for video 1.1" XML export, turned into key-frame rows of an AVA-format CSV.

How the export maps to rows (``woo prepare`` documents it to users):

* the video is ``<meta><task><source>`` (or ``<meta><source>``), matched by file stem; an
  export without one names the video by the XML file's stem;
* each ``<track>`` of ``<box>`` shapes is one person; its id is the track's ``id``;
* a key frame is taken every ``spacing`` seconds from second 0; the video frame nearest it is
  mapped to the task's frame numbering (``<start_frame>`` and ``<frame_filter>step=K``);
* a track's box on that frame, unless ``outside="1"``, gives one row per action it has there:
  a per-frame ``<attribute>`` whose name is a class of the label map and whose value is true
  (a checkbox), or whose value is a class name (a select or radio list, e.g.
  ``name="action"`` ``walk``); the track's own label counts too when it is a class name; a
  false, empty, ``none`` or ``__undefined__`` value is no action;
* coordinates are normalized by ``<original_size>``.

What does not map (a box without any action, an attribute that names no class) is counted and
reported, never dropped silently; a malformed file raises ``ValueError`` naming it.
"""
import os
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

__all__ = ["CvatBox", "CvatVideo", "read_cvat_video", "cvat_key_frame_rows"]

_TRUE = ("true", "1", "yes")
# Values that say "no action" (an unchecked box, an empty or undefined choice).
_NO_ACTION = ("false", "0", "no", "", "none", "__undefined__")


@dataclass
class CvatBox:
    """One box of a track on one task frame: pixels ``x1, y1, x2, y2``, and its attributes."""

    box: Tuple[float, float, float, float]
    outside: bool
    attributes: Dict[str, str]


@dataclass
class CvatVideo:
    """A parsed export.

    Attributes:
        path: the XML file.
        video_id: the video's file stem.
        width, height: ``<original_size>`` in pixels.
        start_frame, step: task frame ``f`` is video frame ``start_frame + f * step``.
        tracks: ``{track id: (label, {task frame: CvatBox})}``.
    """

    path: str
    video_id: str
    width: int
    height: int
    start_frame: int = 0
    step: int = 1
    tracks: Dict[int, Tuple[str, Dict[int, CvatBox]]] = field(default_factory=dict)


def _int(path: str, element, what: str) -> int:
    text = element.text if element is not None else None
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"{path}: {what} {text!r} is not an integer") from None


def read_cvat_video(path: str) -> CvatVideo:
    """Read a "CVAT for video 1.1" XML export.

    Raises:
        ValueError: naming the file and what is malformed or missing.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{path}: not XML: {e}") from None
    if root.tag != "annotations" or root.find("meta") is None:
        raise ValueError(f"{path}: not a CVAT export (no <annotations><meta>)")
    meta = root.find("meta")
    task = meta.find("task") if meta.find("task") is not None else meta.find("job")
    size = task.find("original_size") if task is not None else None
    size = size if size is not None else meta.find("original_size")
    if size is None or size.find("width") is None or size.find("height") is None:
        raise ValueError(f"{path}: <original_size> with <width> and <height> missing: export as 'CVAT for video 1.1'")
    source = (task.findtext("source") if task is not None else None) or meta.findtext("source")
    stem = os.path.splitext(os.path.basename(source.strip()))[0] if source and source.strip() else ""
    video = CvatVideo(path=path, video_id=stem or os.path.splitext(os.path.basename(path))[0],
                      width=_int(path, size.find("width"), "width"), height=_int(path, size.find("height"), "height"))
    if task is not None and task.find("start_frame") is not None:
        video.start_frame = _int(path, task.find("start_frame"), "start_frame")
    frame_filter = (task.findtext("frame_filter") if task is not None else "") or ""
    if frame_filter.strip().startswith("step="):
        video.step = max(1, int(frame_filter.strip()[5:]))
    if root.findall("image"):
        raise ValueError(f"{path}: a 'CVAT for images' export; export the task as 'CVAT for video 1.1'")
    for track in root.findall("track"):
        try:
            track_id = int(track.get("id"))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: <track> with id {track.get('id')!r}, not an integer") from None
        boxes: Dict[int, CvatBox] = {}
        for box in track.findall("box"):
            try:
                frame = int(box.get("frame"))
                coords = tuple(float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr"))
            except (TypeError, ValueError):
                raise ValueError(f"{path}: track {track_id}: <box> needs integer frame and numbers xtl, ytl, xbr, "
                                 f"ybr, got {dict(box.attrib)}") from None
            attributes = {a.get("name", ""): (a.text or "").strip() for a in box.findall("attribute")}
            boxes[frame] = CvatBox(box=coords, outside=box.get("outside", "0") == "1", attributes=attributes)
        video.tracks[track_id] = (track.get("label", ""), boxes)
    return video


def _actions(box: CvatBox, label: str, class_ids: Mapping[str, int], stats: Counter) -> List[int]:
    actions = set()
    if label in class_ids:
        actions.add(class_ids[label])
    for name, value in box.attributes.items():
        if name in class_ids and value.lower() in _TRUE:
            actions.add(class_ids[name])
        elif value in class_ids:
            actions.add(class_ids[value])
        elif value.lower() not in _NO_ACTION:
            stats[f"attribute naming no class ({name}={value})"] += 1
    return sorted(actions)


def cvat_key_frame_rows(video: CvatVideo, *, fps: float, num_frames: int, spacing: int,
                        class_ids: Mapping[str, int]) -> Tuple[List[tuple], Counter]:
    """Key-frame rows of a parsed export, every ``spacing`` seconds from second 0.

    Args:
        fps: the video's own frame rate (the task numbers the video's frames).
        num_frames: frames the video has at ``fps``.
        spacing: seconds between key frames (an integer >= 1).
        class_ids: ``{class name: id}`` of the label map.

    Returns:
        rows: ``(video_id, second, x1, y1, x2, y2, action_id, person_id)``, normalized boxes,
            sorted by second and track.
        stats: what was counted (boxes without an action, attributes naming no class).
    """
    if spacing < 1:
        raise ValueError(f"key-frame spacing must be a whole number of seconds >= 1, got {spacing}")
    rows, stats = [], Counter()
    second = 0
    while round(second * fps) < num_frames:
        task_frame = round((round(second * fps) - video.start_frame) / video.step)
        for track_id, (label, boxes) in sorted(video.tracks.items()):
            box = boxes.get(task_frame)
            if box is None or box.outside:
                continue
            actions = _actions(box, label, class_ids, stats)
            if not actions:
                stats["box without an action"] += 1
                continue
            x1, y1, x2, y2 = box.box
            unit = (x1 / video.width, y1 / video.height, x2 / video.width, y2 / video.height)
            rows += [(video.video_id, second, *unit, action, track_id) for action in actions]
        second += spacing
    return rows, stats
