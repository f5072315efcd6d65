"""``woo tube-eval``: frame-mAP@0.5 and video-mAP of a JHMDB-21 / UCF101-24 detection CSV."""
import argparse
import math

from woo.evaluation.tube_eval import TUBE_METRICS, evaluate_tube_detections, read_tube_detections_csv
from woo.formats.act_groundtruth import read_act_groundtruth
from woo.formats.json_io import nan_to_null as _finite
from woo.formats.json_io import write_json
from woo.runtime.logger import setup_logger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--groundtruth", required=True, help="ACT ground-truth pickle (JHMDB-GT.pkl, UCF101v2-GT.pkl)")
    parser.add_argument("--detections", required=True,
                        help="CSV rows video_id,frame,x1,y1,x2,y2,label,score (frame 1-based, pixels, label 0-based)")
    parser.add_argument("--split", type=int, default=1, help="1-based split whose test videos are evaluated")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="write the figures and per-class frame AP here (null for classes without ground truth)")


def main(args: argparse.Namespace) -> int:
    setup_logger(stream="stderr")  # stdout holds the result
    groundtruth = read_act_groundtruth(args.groundtruth)
    videos = groundtruth.videos("test", args.split)
    detections = read_tube_detections_csv(args.detections, groundtruth, videos)
    result = evaluate_tube_detections(groundtruth, videos, detections)
    width = max(len(name) for name in result["per_class"])
    print(f"{'class':<{width}}  frame AP@0.5")
    for name, ap in result["per_class"].items():
        print(f"{name:<{width}}  {'no ground truth' if math.isnan(ap) else f'{ap:.4f}'}")
    for key in TUBE_METRICS:
        print(f"{key}: {result[key]:.6f}")
    if args.json:
        out = {key: _finite(result[key]) for key in TUBE_METRICS}
        out["per_class"] = {k: _finite(v) for k, v in result["per_class"].items()}
        write_json(args.json, out)
    return 0

