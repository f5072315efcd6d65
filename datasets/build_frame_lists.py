#!/usr/bin/env python
"""Write PySlowFast frame lists (frame_lists/train.csv, val.csv) from extracted frames.

The videos of each split are the ones named in that split's annotation CSV;
their frames are the ``frames/<video>/<video>_%06d.jpg`` files on disk.
Videos named in a CSV without extracted frames are listed on stderr and left
out (the reader then reports their key frames as skipped).

    python datasets/build_frame_lists.py --root datasets/ava --version v2.2
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


def write_frame_list(path: str, frames_dir: str, videos: List[str]) -> List[str]:
    """Write the frame list of ``videos``; returns the videos that have no frames."""
    missing = []
    rows = [HEADER]
    index = 0
    for video_id in videos:
        if not os.path.isdir(os.path.join(frames_dir, video_id)):
            missing.append(video_id)
            continue
        rows += [f'{video_id} {index} {i} {p} ""' for i, p in enumerate(video_frames(frames_dir, video_id))]
        index += 1
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(r + "\n" for r in rows))
    os.replace(tmp, path)
    return missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.environ.get("WOO_DATASETS", "./datasets"), "ava"),
                        help="AVA folder holding frames/ and annotations/")
    parser.add_argument("--version", default="v2.2", help="annotation release naming the splits: v2.1 or v2.2")
    args = parser.parse_args(argv)
    frames_dir = os.path.join(args.root, "frames")
    for subset in ("train", "val"):
        annotations = os.path.join(args.root, "annotations", f"ava_{subset}_{args.version}.csv")
        out = os.path.join(args.root, "frame_lists", f"{subset}.csv")
        videos = split_videos(annotations)
        missing = write_frame_list(out, frames_dir, videos)
        print(f"{out}: {len(videos) - len(missing)} videos")
        if missing:
            print(f"{subset}: {len(missing)} videos without frames: {' '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
