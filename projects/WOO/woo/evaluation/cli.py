"""``woo ava-eval``: frame-mAP@0.5 of an AVA detection CSV, as the official evaluator computes it."""
import argparse
import json
import logging
import math
import os

from woo.utils.json_values import nan_to_null as _finite

from .evaluate import evaluate_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labelmap", required=True, help="label map (.pbtxt) of the evaluated classes")
    parser.add_argument("--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("--detections", required=True, help="detection CSV")
    parser.add_argument("--exclusions", default=None, help="optional CSV of excluded video_id,timestamp")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help='write {"mAP": float, "per_class": {name: AP}} here (null for classes without ground truth)')


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = evaluate_csv(args.labelmap, args.groundtruth, args.detections, args.exclusions)
    width = max(len(name) for name in result["per_class"])
    for name, ap in result["per_class"].items():
        print(f"{name:<{width}}  {'no ground truth' if math.isnan(ap) else f'{ap:.4f}'}")
    print(f"frame-mAP@0.5: {result['mAP']:.6f}")
    if args.json:
        out = {"mAP": _finite(result["mAP"]), "per_class": {k: _finite(v) for k, v in result["per_class"].items()}}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0
