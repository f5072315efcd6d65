"""``woo ava-eval``: frame-mAP@0.5 of an AVA detection CSV, under the official or PySlowFast's protocol."""
import argparse
import math
import os

from woo.evaluation.evaluate import METRIC_NAMES, evaluate_csv
from woo.evaluation.frame_map import PROTOCOLS
from woo.formats.eval_details import save_details
from woo.formats.json_io import nan_to_null as _finite
from woo.formats.json_io import write_json
from woo.formats.label_map import read_label_types
from woo.reports.evaluation_report import report_folder_problem, write_evaluation_report
from woo.runtime.logger import setup_logger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labelmap", required=True, help="label map (.pbtxt) of the evaluated classes")
    parser.add_argument("--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("--detections", required=True, help="detection CSV")
    parser.add_argument("--exclusions", default=None, help="optional CSV of excluded video_id,timestamp")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="official",
                        help="official: ActivityNet's evaluator (top 50 detections per key frame); "
                             "pyslowfast: PySlowFast's (every row, in file order)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help='write {"frame_mAP@0.5" (official) or "frame_mAP@0.5_pyslowfast": float, '
                             '"per_class": {name: AP}, "protocol": str, "mAP": float (deprecated alias)} '
                             "here (null for classes without ground truth)")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="write an evaluation report into DIR: index.html with its PNGs, metrics.json "
                             "(frame-mAP under both protocols, per-class AP of --protocol) and eval_details.npz")
    parser.add_argument("--label-types", default=None, metavar="PBTXT",
                        help="label map whose label_type fields colour the report by action type, e.g. the "
                             "80-class ava_action_list_v2.2.pbtxt (default: --labelmap)")


def main(args: argparse.Namespace) -> int:
    setup_logger(stream="stderr")  # stdout holds the result
    problem = report_folder_problem(args.report)
    if problem:  # before an evaluation that may take minutes
        raise OSError(problem)
    result = evaluate_csv(args.labelmap, args.groundtruth, args.detections, args.exclusions, protocol=args.protocol,
                          also=PROTOCOLS if args.report else (), keep_details=bool(args.report))
    mean_name, per_class_name = METRIC_NAMES[args.protocol]
    per_class = result[per_class_name]
    width = max(len(name) for name in per_class)
    for name, ap in per_class.items():
        print(f"{name:<{width}}  {'no ground truth' if math.isnan(ap) else f'{ap:.4f}'}")
    print(f"frame-mAP@0.5 ({args.protocol} protocol): {result[mean_name]:.6f}")
    if args.json:
        out = {
            mean_name: _finite(result[mean_name]),
            "per_class": {k: _finite(v) for k, v in per_class.items()},
            "protocol": args.protocol,
            # Deprecated alias of the figure above (its name before 0.1.1), kept for one release.
            "mAP": _finite(result[mean_name]),
        }
        write_json(args.json, out)
    if args.report:
        _write_report(args, result)
    return 0


def _write_report(args: argparse.Namespace, result) -> None:
    metrics = {METRIC_NAMES[p][0]: _finite(result[METRIC_NAMES[p][0]]) for p in PROTOCOLS}
    metrics["per_class"] = {k: _finite(v) for k, v in result[METRIC_NAMES[args.protocol][1]].items()}
    metrics["protocol"] = args.protocol
    write_json(os.path.join(args.report, "metrics.json"), metrics)
    save_details(os.path.join(args.report, "eval_details.npz"), result["details"])
    paths = write_evaluation_report(
        args.report, metrics, result["details"][args.protocol],
        label_types=read_label_types(args.label_types or args.labelmap),
        title="AVA frame-mAP report", protocol=args.protocol,
        subtitle=f"{os.path.basename(args.detections)} against {os.path.basename(args.groundtruth)}")
    print(f"report: {paths['index.html']}")
