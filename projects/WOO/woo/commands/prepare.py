"""``woo prepare``: a set of one's own videos, annotated in AVA-format CSVs or CVAT XML, made
ready to train and evaluate on (:mod:`woo.data.prepared` describes what it writes).

Each video of ``--videos`` is decoded with PyAV, its frames resampled by timestamp to
``--fps`` and written as JPEGs. Rows are ``video_id,seconds,x1,y1,x2,y2,action_id[,person_id]``:
the video's file stem, whole seconds from the video's start (any range, any spacing), boxes
normalized to [0, 1]. A row that names an unknown video, a second past its video's end, or an
action id the label map lacks is an error naming its file and line.
"""
import argparse
import csv
import logging
import math
import os
import shutil
from collections import Counter
from typing import Dict, List, Tuple

import cv2
from tqdm import tqdm

from woo.data.prepared import DATASET_FILE, write_dataset_yaml
from woo.formats.atomic import atomic_directory, atomic_write
from woo.formats.cvat import CvatVideo, cvat_key_frame_rows, read_cvat_video
from woo.formats.frame_list import FramePaths, write_frame_list
from woo.formats.label_map import read_labelmap, write_labelmap
from woo.inference.clip_sampler import StreamingClipSampler
from woo.inference.video_reader import ThreadedFrameReader, VideoReadError, open_video

from .errors import UsageError

__all__ = ["add_arguments", "main"]

logger = logging.getLogger(__name__)

# A CSV's first line may be a header that starts with this.
_HEADER = "video_id"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", required=True, help="folder of the videos (any format PyAV decodes)")
    parser.add_argument("--annotations", required=True, nargs="+", metavar="FILE",
                        help="training annotations: AVA-format CSVs (video_id,seconds,x1,y1,x2,y2,action_id"
                             "[,person_id]) or CVAT for video 1.1 XML exports")
    parser.add_argument("--val", nargs="+", default=[], metavar="FILE", help="validation annotations, as --annotations")
    parser.add_argument("--labels", required=True, help="label map (AVA pbtxt): the classes trained")
    parser.add_argument("--eval-labels", default=None,
                        help="label map of the classes evaluated (default: every class of --labels)")
    parser.add_argument("--out", required=True, help="folder to create")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the frames written (default 30)")
    parser.add_argument("--spacing", type=int, default=1, metavar="S",
                        help="seconds between the key frames taken from a CVAT export (default 1)")
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality of the frames (default 90)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")


def _video_files(folder: str) -> Dict[str, str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--videos {folder}: folder not found")
    videos: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        stem = os.path.splitext(name)[0]
        if stem in videos:
            raise ValueError(f"--videos {folder}: {os.path.basename(videos[stem])} and {name} have one stem, {stem!r}")
        videos[stem] = path
    return videos


def _number(path: str, line: int, text: str, what: str, kind=float):
    try:
        return kind(text.strip())
    except ValueError:
        raise ValueError(f"{path}:{line}: {what} {text.strip()!r} is not {'an integer' if kind is int else 'a number'}"
                         ) from None


def _read_csv(path: str, videos: Dict[str, str], class_ids: set) -> List[Tuple[tuple, Tuple[str, int]]]:
    """Rows of an annotation CSV, ``(video_id, second, x1, y1, x2, y2, action_id, person_id or None)``
    or ``(video_id, second)``, each with the (file, line) it came from; errors name the file and line."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line, fields in enumerate(csv.reader(f), start=1):
            fields = [x.strip() for x in fields]
            if not fields or not any(fields) or (line == 1 and fields[0] == _HEADER):
                continue
            if len(fields) not in (2, 7, 8):
                raise ValueError(f"{path}:{line}: expected 'video_id,seconds,x1,y1,x2,y2,action_id[,person_id]', "
                                 f"got {len(fields)} fields")
            video_id = fields[0]
            if video_id not in videos:
                known = ", ".join(list(videos)[:5]) + (", ..." if len(videos) > 5 else "")
                raise ValueError(f"{path}:{line}: video {video_id!r} is not in --videos (it has {known or 'no file'})")
            second = _number(path, line, fields[1], "second")
            if second < 0 or second != round(second):
                raise ValueError(f"{path}:{line}: second {fields[1]} must be a whole number >= 0 (seconds from the "
                                 "video's start)")
            if len(fields) == 2:
                rows.append(((video_id, int(second)), (path, line)))
                continue
            box = [_number(path, line, x, name) for x, name in zip(fields[2:6], ("x1", "y1", "x2", "y2"))]
            action = _number(path, line, fields[6], "action_id", int)
            if action not in class_ids:
                raise ValueError(f"{path}:{line}: action_id {action} is not in the label map (ids {sorted(class_ids)})")
            person = _number(path, line, fields[7], "person_id", int) if len(fields) == 8 else None
            rows.append(((video_id, int(second), *box, action, person), (path, line)))
    return rows


class _FrameWriter:
    """Writes one video's frames as ``<frames_dir>/<video>/<video>_%06d.jpg`` (frame 1 first)."""

    def __init__(self, frames_dir: str, video_id: str, quality: int, bar: tqdm):
        self.folder, self.video_id, self.bar = os.path.join(frames_dir, video_id), video_id, bar
        self.params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        self.written, self.last = 0, None
        os.makedirs(self.folder)

    def write(self, clips) -> None:
        for clip in clips:
            name = os.path.join(self.folder, f"{self.video_id}_{self.written + 1:06d}.jpg")
            if not cv2.imwrite(name, cv2.cvtColor(clip.frames[0], cv2.COLOR_RGB2BGR), self.params):
                raise OSError(f"cannot write {name}")
            self.written, self.last = self.written + 1, clip
        self.bar.update(len(clips))


def _extract(path: str, video_id: str, frames_dir: str, fps: float, quality: int) -> Dict:
    """Decode ``path``, write its frames resampled to ``fps``; returns what dataset.yaml says of it."""
    try:
        source = open_video(path)
    except VideoReadError as e:
        raise VideoReadError(f"video {video_id}: {e}") from None
    info = source.info
    reader = ThreadedFrameReader(source)
    # One-frame "clips" every 1/fps seconds: each takes the decoded frame nearest its time.
    sampler = StreamingClipSampler(num_frames=1, sampling_rate=1, key_stride=1.0 / fps, model_fps=fps)
    expected = math.ceil(info.expected_frames / float(info.fps) * fps - 1e-6) if info.expected_frames else None
    end = 0.0  # where the last decoded frame ends: its time plus one source frame period
    with tqdm(total=expected, desc=video_id, unit="frame", dynamic_ncols=True) as bar:
        frames = _FrameWriter(frames_dir, video_id, quality, bar)
        try:
            for frame in reader:
                end = frame.time + 1.0 / float(info.fps)
                frames.write(sampler.push(frame))
        except ValueError as e:  # timestamps that go back
            raise VideoReadError(f"cannot read video {path}: {e}") from None
        frames.write(sampler.finish())
        if frames.last is not None:  # the frames at k / fps before that end
            frames.write([frames.last] * max(0, math.ceil(end * fps - 1e-6) - frames.written))
    stats = reader.stats
    if not frames.written:
        raise VideoReadError(f"cannot read video {path}: no frame decodes")
    if stats.errors:
        logger.warning("%s: %d undecodable packets skipped (%s)", path, stats.errors, "; ".join(stats.messages[:3]))
    return {"frames": frames.written, "seconds": round(frames.written / fps, 3), "source": os.path.basename(path),
            "source_fps": round(float(info.fps), 3), "source_frames": stats.decoded, "width": info.width,
            "height": info.height}


def _check_seconds(rows, video_info: Dict[str, Dict], fps: float) -> None:
    for row, (path, line) in rows:
        video_id, second = row[0], row[1]
        frames = video_info[video_id]["frames"]
        if round(second * fps) >= frames:
            raise ValueError(f"{path}:{line}: second {second} is past the end of video {video_id!r} "
                             f"({video_info[video_id]['seconds']:g} s, {frames} frames at {fps:g} FPS)")


def _write_annotations(path: str, rows) -> None:
    with atomic_write(path, newline="\n") as f:
        for row, _ in sorted(rows, key=lambda r: (r[0][0], r[0][1])):
            if len(row) == 2:
                f.write(f"{row[0]},{row[1]}\n")
                continue
            video_id, second, x1, y1, x2, y2, action, person = row
            person = "" if person is None else f",{person}"
            f.write(f"{video_id},{second},{x1:.6g},{y1:.6g},{x2:.6g},{y2:.6g},{action}{person}\n")


def _spacing(seconds: List[int]) -> int:
    """The most common gap between a video's consecutive key seconds (0 for one key frame)."""
    gaps = Counter(b - a for a, b in zip(seconds, seconds[1:]) if b > a)
    return gaps.most_common(1)[0][0] if gaps else 0


def main(args: argparse.Namespace) -> int:
    if args.fps <= 0:
        raise UsageError(f"--fps must be > 0, got {args.fps:g}")
    if args.spacing < 1:
        raise UsageError(f"--spacing must be a whole number of seconds >= 1, got {args.spacing}")
    if not 1 <= args.jpeg_quality <= 100:
        raise UsageError(f"--jpeg-quality must lie in 1..100, got {args.jpeg_quality}")
    videos = _video_files(args.videos)
    categories, class_ids = read_labelmap(args.labels)
    eval_categories, eval_ids = read_labelmap(args.eval_labels) if args.eval_labels else (categories, class_ids)
    if not eval_ids <= class_ids:
        raise ValueError(f"{args.eval_labels}: ids {sorted(eval_ids - class_ids)} are not in {args.labels}")
    names = {cat["name"]: cat["id"] for cat in categories}
    splits = {"train": args.annotations, **({"val": args.val} if args.val else {})}
    # Rows of CSVs now (errors before any decoding); CVAT exports once their video's frame rate is known.
    rows: Dict[str, list] = {split: [] for split in splits}
    cvat: Dict[str, List[CvatVideo]] = {split: [] for split in splits}
    for split, files in splits.items():
        for path in files:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"annotations {path} not found")
            if path.lower().endswith(".xml"):
                export = read_cvat_video(path)
                if export.video_id not in videos:
                    raise ValueError(f"{path}: its video {export.video_id!r} is not in --videos {args.videos}")
                cvat[split].append(export)
            else:
                rows[split] += _read_csv(path, videos, class_ids)
    used = sorted({row[0] for split in splits for row, _ in rows[split]}
                  | {export.video_id for split in splits for export in cvat[split]})
    unused = sorted(set(videos) - set(used))
    if unused:
        logger.warning("%d video(s) of %s named by no annotation, left out: %s", len(unused), args.videos,
                       ", ".join(unused[:10]) + (", ..." if len(unused) > 10 else ""))
    if os.path.exists(args.out):
        if not args.force:
            raise FileExistsError(f"{args.out} exists (use --force to replace it)")
        shutil.rmtree(args.out)
    with atomic_directory(args.out) as out:
        frames_dir = os.path.join(out, "frames")
        info = {video_id: _extract(videos[video_id], video_id, frames_dir, args.fps, args.jpeg_quality)
                for video_id in used}
        for split in splits:
            for export in cvat[split]:
                vinfo = info[export.video_id]
                converted, stats = cvat_key_frame_rows(export, fps=vinfo["source_fps"],
                                                       num_frames=vinfo["source_frames"],
                                                       spacing=args.spacing, class_ids=names)
                if stats:
                    logger.warning("%s: %d rows; %s", export.path, len(converted),
                                   ", ".join(f"{what}: {n}" for what, n in sorted(stats.items())))
                rows[split] += [(row, (export.path, 0)) for row in converted]
            _check_seconds(rows[split], info, args.fps)
        description = {"fps": int(args.fps) if float(args.fps).is_integer() else args.fps,
                       "num_classes": max(class_ids), "label_map": "annotations/label_map.pbtxt",
                       "eval_label_map": "annotations/eval_label_map.pbtxt" if args.eval_labels else
                       "annotations/label_map.pbtxt", "frames_dir": "frames", "splits": {}}
        write_labelmap(os.path.join(out, description["label_map"]), categories)
        if args.eval_labels:
            write_labelmap(os.path.join(out, description["eval_label_map"]), eval_categories)
        for split in splits:
            split_videos = sorted({row[0] for row, _ in rows[split]})
            if not split_videos:
                raise ValueError(f"the {split} annotations ({', '.join(splits[split])}) hold no key frame")
            write_frame_list(os.path.join(out, "frame_lists", f"{split}.csv"), {
                v: FramePaths("", info[v]["frames"], pattern=f"{v}/{v}_{{:06d}}.jpg", first=1) for v in split_videos})
            _write_annotations(os.path.join(out, "annotations", f"{split}.csv"), rows[split])
            keys = sorted({(row[0], row[1]) for row, _ in rows[split]})
            seconds = [second for _, second in keys]
            description["splits"][split] = {
                "frame_list": f"frame_lists/{split}.csv", "annotations": f"annotations/{split}.csv",
                "videos": len(split_videos), "key_frames": len(keys),
                "boxes": len({row[:6] + row[7:] for row, _ in rows[split] if len(row) > 2}),
                "key_frame_seconds": [min(seconds), max(seconds)],
                "key_frame_spacing": _spacing([s for (v, s) in keys if v == keys[0][0]]),
            }
        description["videos"] = info
        write_dataset_yaml(os.path.join(out, DATASET_FILE), description)
    path = os.path.join(args.out, DATASET_FILE)
    summary = ", ".join(f"{split}: {_count(d['videos'], 'video')}, {_count(d['key_frames'], 'key frame')}"
                        for split, d in description["splits"].items())
    print(f"woo prepare: wrote {path} ({summary}; {_count(len(categories), 'class', 'classes')} "
          f"at {args.fps:g} FPS)")
    print(f"  train with DATASETS.TRAIN '(\"{path}:train\",)'"
          + (f" DATASETS.TEST '(\"{path}:val\",)'" if "val" in splits else "")
          + f" MODEL.WOO.NUM_ACTIONS {max(class_ids)}")
    return 0


def _count(n: int, noun: str, plural: str = "") -> str:
    """``n`` and its noun: "1 video", "2 videos"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
