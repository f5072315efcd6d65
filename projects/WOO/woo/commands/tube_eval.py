"""``woo tube-eval``: frame-mAP@0.5 and video-mAP of a JHMDB-21 / UCF101-24 detection CSV."""
import argparse
import math
import os

from woo.evaluation.tube_eval import TUBE_METRICS, evaluate_tube_detections, read_tube_detections_csv
from woo.formats.act_groundtruth import read_act_groundtruth
from woo.formats.eval_details import save_details
from woo.formats.json_io import nan_to_null as _finite
from woo.formats.json_io import write_json
from woo.reports.evaluation_report import report_folder_problem, write_evaluation_report
from woo.runtime.logger import setup_logger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--groundtruth", required=True, help="ACT ground-truth pickle (JHMDB-GT.pkl, UCF101v2-GT.pkl)")
    parser.add_argument("--detections", required=True,
                        help="CSV rows video_id,frame,x1,y1,x2,y2,label,score (frame 1-based, pixels, label 0-based)")
    parser.add_argument("--split", type=int, default=1, help="1-based split whose test videos are evaluated")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="write the figures and per-class frame AP here (null for classes without ground truth)")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="write an evaluation report into DIR: index.html with its PNGs, metrics.json "
                             "and eval_details.npz")


def main(args: argparse.Namespace) -> int:
    setup_logger(stream="stderr")  # stdout holds the result
    problem = report_folder_problem(args.report)
    if problem:  # before an evaluation that may take minutes
        raise OSError(problem)
    groundtruth = read_act_groundtruth(args.groundtruth)
    videos = groundtruth.videos("test", args.split)
    detections = read_tube_detections_csv(args.detections, groundtruth, videos)
    result = evaluate_tube_detections(groundtruth, videos, detections, keep_details=bool(args.report))
    width = max(len(name) for name in result["per_class"])
    print(f"{'class':<{width}}  frame AP@0.5")
    for name, ap in result["per_class"].items():
        print(f"{name:<{width}}  {'no ground truth' if math.isnan(ap) else f'{ap:.4f}'}")
    for key in TUBE_METRICS:
        print(f"{key}: {result[key]:.6f}")
    out = {key: _finite(result[key]) for key in TUBE_METRICS}
    out["per_class"] = {k: _finite(v) for k, v in result["per_class"].items()}
    if args.json:
        write_json(args.json, out)
    if args.report:
        write_json(os.path.join(args.report, "metrics.json"), out)
        save_details(os.path.join(args.report, "eval_details.npz"), result["details"])
        paths = write_evaluation_report(
            args.report, out, result["details"]["frame"], title="Frame-mAP and video-mAP report",
            subtitle=f"{os.path.basename(args.detections)} against {os.path.basename(args.groundtruth)}, "
                     f"split {args.split}")
        print(f"report: {paths['index.html']}")
    return 0
