"""Evaluation, numpy only.

* AVA frame-mAP@0.5, identical to the official ActivityNet evaluator (protocol
  "official") or to PySlowFast's (protocol "pyslowfast").
* JHMDB-21 / UCF101-24 frame-mAP and video-mAP, identical to ACT's ``frameAP`` /
  ``videoAP``, with the tube linker that builds video tubes from per-frame detections.
"""
from woo.data.ava_annotations import read_exclusions
from woo.data.ava_box_csv import AVABoxRows, read_box_csv
from woo.data.ava_label_map import read_labelmap

from .act_groundtruth import ActGroundTruth, read_act_groundtruth
from .detections import predictions_to_rows, write_detections_csv
from .evaluate import METRIC_NAMES, evaluate_csv, evaluate_predictions, evaluate_rows
from .frame_map import PROTOCOLS
from .tube_eval import evaluate_tube_detections, read_tube_detections_csv, write_tube_detections_csv
from .tube_linking import link_tubes
from .tube_map import FrameDetections, frame_ap, video_ap

__all__ = [
    "ActGroundTruth",
    "AVABoxRows",
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
    "read_act_groundtruth",
    "read_box_csv",
    "read_exclusions",
    "read_labelmap",
    "read_tube_detections_csv",
    "video_ap",
    "write_detections_csv",
    "write_tube_detections_csv",
]
