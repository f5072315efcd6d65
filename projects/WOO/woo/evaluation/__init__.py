"""Evaluation: arrays and files in, numbers out (numpy only).

* AVA frame-mAP@0.5, identical to the official ActivityNet evaluator (protocol
  "official") or to PySlowFast's (protocol "pyslowfast").
* JHMDB-21 / UCF101-24 frame-mAP and video-mAP, identical to ACT's ``frameAP`` /
  ``videoAP``, with the tube linker that builds video tubes from per-frame detections.

The file readers these use live in :mod:`woo.formats`.
"""
from .detections import predictions_to_rows, write_detections_csv
from .evaluate import METRIC_NAMES, evaluate_csv, evaluate_predictions, evaluate_rows
from .frame_map import PROTOCOLS
from .tube_eval import evaluate_tube_detections, read_tube_detections_csv, write_tube_detections_csv
from .tube_linking import link_tubes
from .tube_map import FrameDetections, frame_ap, video_ap

__all__ = [
    "FrameDetections",
    "METRIC_NAMES",
    "PROTOCOLS",
    "evaluate_csv",
    "evaluate_predictions",
    "evaluate_rows",
    "evaluate_tube_detections",
    "frame_ap",
    "link_tubes",
    "predictions_to_rows",
    "read_tube_detections_csv",
    "video_ap",
    "write_detections_csv",
    "write_tube_detections_csv",
]
