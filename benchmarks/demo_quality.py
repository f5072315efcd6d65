#!/usr/bin/env python
"""`woo demo` against the truth: are the synthetic val actors found, tracked and given the right actions?

Encodes each synthetic val video (30 FPS frames) as an mp4, runs ``woo demo``
(``run_demo``, key frames every ``--key-stride`` seconds) with a trained model, and compares
its tracks.json with the val annotations (video second ``s + 2`` is the
annotated key frame ``902 + s``; excluded key frames are skipped). At each
annotated key frame, the demo's boxes are matched one to one with the
annotated actors (Hungarian, IoU >= 0.5). Prints and writes JSON:

* found: annotated actor boxes matched by a demo box;
* actions right: matched boxes whose actions at or above ``--score-thresh``
  are exactly the annotated ones;
* tracked: actors matched at every annotated key frame, always by the same track;
* all right: tracked actors whose actions are right at every key frame;
* false tracks: tracks present at annotated key frames but never matched to an
  actor there (e.g. on a distractor or a duplicate box).

    woo train --config-file configs/Synthetic/WOO_Tiny.yaml
    python benchmarks/demo_quality.py --weights output/synthetic/WOO_Tiny/model_final.pth
"""
import argparse
import csv
import json
import os
import tempfile
from collections import defaultdict

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from woo.config import get_cfg
from woo.data.catalog import get_split
from woo.formats.json_io import write_json
from woo.inference.demo import run_demo
from woo.inference.predictor import VideoPredictor
from woo.inference.render import H264Writer

FIRST_KEY_SECOND = 902  # annotated second of video time 2 s (frame 60 at 30 FPS)


def read_truth(split, video_id: str, width: int, height: int) -> dict:
    """``{video second: {person_id: (box in pixels, set of action ids)}}`` of one video, exclusions left out."""
    excluded = set()
    if split.exclusions and os.path.isfile(split.exclusions):
        with open(split.exclusions) as f:
            excluded = {int(r[1]) for r in csv.reader(f) if r and r[0] == video_id}
    truth = defaultdict(dict)
    with open(split.annotations) as f:
        for row in csv.reader(f):
            if row[0] != video_id or int(row[1]) in excluded:
                continue
            second = int(row[1]) - FIRST_KEY_SECOND + 2
            box = np.asarray([float(v) for v in row[2:6]]) * [width, height, width, height]
            person = int(row[7])
            truth[second].setdefault(person, (box, set()))[1].add(int(row[6]))
    return truth


def compare(doc: dict, truth: dict, score_thresh: float) -> dict:
    """Match the demo's boxes with the annotated actors at every annotated key frame."""
    at_time = defaultdict(list)  # annotated second -> [(track id, box, action scores)]
    for track in doc["tracks"]:
        for key in track["key_frames"]:
            second = round(key["time"])
            if abs(key["time"] - second) < 1e-3 and second in truth:
                at_time[second].append((track["id"], key["box"], np.asarray(key["actions"])))
    seen_tracks = {d[0] for detections in at_time.values() for d in detections}
    boxes = found = right = 0
    person_tracks, person_right, matched_tracks = defaultdict(list), defaultdict(list), set()
    for second, people in truth.items():
        detections = at_time.get(second, [])
        persons = list(people)
        boxes += len(persons)
        if not detections:
            for p in persons:
                person_tracks[p].append(None)
                person_right[p].append(False)
            continue
        iou = box_iou(torch.tensor(np.stack([people[p][0] for p in persons]), dtype=torch.float32),
                      torch.tensor([d[1] for d in detections], dtype=torch.float32)).numpy()
        rows, cols = linear_sum_assignment(-iou)
        match = {persons[r]: c for r, c in zip(rows, cols) if iou[r, c] >= 0.5}
        for p in persons:
            if p not in match:
                person_tracks[p].append(None)
                person_right[p].append(False)
                continue
            track_id, _, scores = detections[match[p]]
            predicted = {j + 1 for j in np.flatnonzero(scores >= score_thresh)}
            found += 1
            right += predicted == people[p][1]
            matched_tracks.add(track_id)
            person_tracks[p].append(track_id)
            person_right[p].append(predicted == people[p][1])
    tracked = [p for p, ids in person_tracks.items() if None not in ids and len(set(ids)) == 1]
    return {
        "boxes": boxes, "found": found, "actions_right": int(right),
        "actors": len(person_tracks), "tracked": len(tracked),
        "all_right": sum(all(person_right[p]) for p in tracked),
        "tracks": len(seen_tracks), "false_tracks": len(seen_tracks - matched_tracks),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default="configs/Synthetic/WOO_Tiny.yaml")
    parser.add_argument("--weights", default="output/synthetic/WOO_Tiny/model_final.pth")
    parser.add_argument("--score-thresh", type=float, default=0.5, help="least score of a predicted action")
    parser.add_argument("--key-stride", type=float, default=1.0,
                        help="seconds between the demo's key frames (whole seconds are compared)")
    parser.add_argument("--keep", default="", help="also keep the demo outputs of each video in this folder")
    parser.add_argument("--videos", nargs="*", default=None, help="val video ids (default: all)")
    parser.add_argument("--scale", type=int, default=1,
                        help="enlarge the frames this many times before encoding (readable drawings)")
    parser.add_argument("--out", default="benchmarks/results/demo_quality.json")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args()

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts))
    cfg.MODEL.WEIGHTS = args.weights
    split = get_split("woo_synthetic_val")
    predictor = VideoPredictor(cfg, key_stride=args.key_stride)
    with open(split.frame_list) as f:
        videos = args.videos or sorted({line.split()[0] for line in list(f)[1:] if line.strip()})
    per_video, totals = {}, defaultdict(int)
    with tempfile.TemporaryDirectory(prefix="woo_demo_quality_") as tmp:
        for video_id in videos:
            frames_dir = os.path.join(split.frames_dir, video_id)
            names = sorted(os.listdir(frames_dir))
            first = cv2.imread(os.path.join(frames_dir, names[0]))
            height, width = first.shape[0] * args.scale, first.shape[1] * args.scale
            video = os.path.join(tmp, f"{video_id}.mp4")
            writer = H264Writer(video, width=width, height=height, fps=30)
            for name in names:
                image = cv2.cvtColor(cv2.imread(os.path.join(frames_dir, name)), cv2.COLOR_BGR2RGB)
                writer.write(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC))
            writer.close()
            out_dir = os.path.join(args.keep, video_id) if args.keep else os.path.join(tmp, video_id)
            run_demo(predictor, video, out_dir, score_thresh=args.score_thresh, show_progress=False)
            with open(os.path.join(out_dir, "tracks.json")) as f:
                doc = json.load(f)
            result = compare(doc, read_truth(split, video_id, width, height), args.score_thresh)
            per_video[video_id] = result
            for k, v in result.items():
                totals[k] += v
            print(f"{video_id}: {result}")
    t = totals
    print(f"actor boxes found (IoU >= 0.5): {t['found']}/{t['boxes']} ({t['found'] / t['boxes']:.1%}); "
          f"with exactly the right actions: {t['actions_right']}/{t['boxes']} ({t['actions_right'] / t['boxes']:.1%})")
    print(f"actors found at every key frame by one track: {t['tracked']}/{t['actors']}; and with the right "
          f"actions throughout: {t['all_right']}/{t['actors']}; tracks at annotated key frames matching no actor: "
          f"{t['false_tracks']}/{t['tracks']}")
    report = {"benchmark": "demo_quality", "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "totals": dict(totals), "per_video": per_video}
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
