"""AVA frame-mAP evaluation (numpy only; identical to the official ActivityNet evaluator)."""
from .ava_io import read_exclusions, read_labelmap
from .box_csv import AVABoxRows, read_box_csv
from .detections import predictions_to_rows, write_detections_csv
from .evaluate import evaluate_csv, evaluate_predictions, evaluate_rows

__all__ = [
    "AVABoxRows",
    "evaluate_csv",
    "evaluate_predictions",
    "evaluate_rows",
    "predictions_to_rows",
    "read_box_csv",
    "read_exclusions",
    "read_labelmap",
    "write_detections_csv",
]
