#!/usr/bin/env python
"""Write PySlowFast frame lists (frame_lists/train.csv, val.csv) from extracted frames.

The videos of each split are the ones named in that split's annotation CSV,
``<root>/annotations/ava_{train,val}_<version>.csv``; their frames are the
``<root>/frames/<video>/<video>_%06d.jpg`` files on disk. Videos without a
frame folder, or whose folder holds no such frame, are named on stderr and left
out (the reader then reports their key frames as skipped); a split left with no
video at all is an error. ``--root`` defaults to ``$WOO_DATASETS/ava``
(``./datasets/ava`` when $WOO_DATASETS is unset), so with $WOO_DATASETS set
the script runs from any directory:

    python /path/to/woo/datasets/build_frame_lists.py --version v2.2
"""
import argparse
import csv
import os
import re
import sys
from typing import Dict, List

HEADER = "original_vido_id video_idx frame_id path labels"


def split_videos(annotation_csv: str) -> List[str]:
    """Video ids of an AVA annotation CSV, in order of first appearance."""
    videos: Dict[str, None] = {}
    with open(annotation_csv, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if not row[0].strip():
                raise ValueError(f"{annotation_csv}:{lineno}: empty video id")
            videos.setdefault(row[0].strip(), None)
    return list(videos)


def video_frames(frames_dir: str, video_id: str) -> List[str]:
    """Frame paths of one video relative to ``frames_dir``, by frame number.

    Raises:
        ValueError: naming the folder when the numbers are not 1..n without gaps.
    """
    folder = os.path.join(frames_dir, video_id)
    pattern = re.compile(re.escape(video_id) + r"_(\d{6})\.jpg$")
    numbers = sorted(int(m.group(1)) for m in map(pattern.match, os.listdir(folder)) if m)
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"{folder}: frames must be numbered {video_id}_000001.jpg .. without gaps")
    return [f"{video_id}/{video_id}_{n:06d}.jpg" for n in numbers]


def write_frame_list(path: str, frames_dir: str, videos: List[str]) -> Dict[str, List[str]]:
    """Write the frame list of ``videos``.

    Returns:
        the videos left out: ``{"missing": [no frame folder], "empty": [folder without frames]}``.
    """
    left_out: Dict[str, List[str]] = {"missing": [], "empty": []}
    rows = [HEADER]
    index = 0
    for video_id in videos:
        if not os.path.isdir(os.path.join(frames_dir, video_id)):
            left_out["missing"].append(video_id)
            continue
        frames = video_frames(frames_dir, video_id)
        if not frames:
            left_out["empty"].append(video_id)
            continue
        rows += [f'{video_id} {index} {i} {p} ""' for i, p in enumerate(frames)]
        index += 1
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(r + "\n" for r in rows))
    os.replace(tmp, path)
    return left_out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.environ.get("WOO_DATASETS", "./datasets"), "ava"),
                        help="AVA folder holding frames/ and annotations/ (default: $WOO_DATASETS/ava, "
                             "./datasets/ava when $WOO_DATASETS is unset)")
    parser.add_argument("--version", default="v2.2", choices=("v2.1", "v2.2"),
                        help="annotation release naming the splits")
    args = parser.parse_args(argv)
    frames_dir = os.path.join(args.root, "frames")
    if not os.path.isdir(frames_dir):
        print(f"build_frame_lists.py: error: no frames folder {frames_dir} (--root {args.root})", file=sys.stderr)
        return 1
    status = 0
    for subset in ("train", "val"):
        annotations = os.path.join(args.root, "annotations", f"ava_{subset}_{args.version}.csv")
        if not os.path.isfile(annotations):
            print(f"build_frame_lists.py: error: annotation file {annotations} not found "
                  f"(datasets/README.md, 'Files each AVA version needs')", file=sys.stderr)
            return 1
        out = os.path.join(args.root, "frame_lists", f"{subset}.csv")
        videos = split_videos(annotations)
        left_out = write_frame_list(out, frames_dir, videos)
        listed = len(videos) - len(left_out["missing"]) - len(left_out["empty"])
        print(f"{out}: {listed} of the {len(videos)} videos of {os.path.basename(annotations)}")
        if left_out["missing"]:
            print(f"{subset}: {len(left_out['missing'])} videos without a frame folder in {frames_dir}: "
                  f"{' '.join(left_out['missing'])}", file=sys.stderr)
        if left_out["empty"]:
            print(f"{subset}: {len(left_out['empty'])} frame folders without <video>_%06d.jpg frames: "
                  f"{' '.join(os.path.join(frames_dir, v) for v in left_out['empty'])}", file=sys.stderr)
        if videos and not listed:
            print(f"build_frame_lists.py: error: no video of {annotations} has frames", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
