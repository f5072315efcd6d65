"""AVA frame-mAP evaluation (numpy only), identical to the official ActivityNet evaluator
(protocol "official") or to PySlowFast's (protocol "pyslowfast")."""
from woo.data.ava_annotations import read_exclusions
from woo.data.ava_box_csv import AVABoxRows, read_box_csv
from woo.data.ava_label_map import read_labelmap

from .detections import predictions_to_rows, write_detections_csv
from .evaluate import METRIC_NAMES, evaluate_csv, evaluate_predictions, evaluate_rows
from .frame_map import PROTOCOLS

__all__ = [
    "AVABoxRows",
    "METRIC_NAMES",
    "PROTOCOLS",
    "evaluate_csv",
    "evaluate_predictions",
    "evaluate_rows",
    "predictions_to_rows",
    "read_box_csv",
    "read_exclusions",
    "read_labelmap",
    "write_detections_csv",
]
