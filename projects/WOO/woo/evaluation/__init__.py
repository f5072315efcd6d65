"""AVA frame-mAP evaluation (numpy only; identical to the official ActivityNet evaluator), and
JHMDB-21 / UCF101-24 frame-mAP and video-mAP (identical to ACT's ``frameAP`` / ``videoAP``)."""
from .act_groundtruth import ActGroundTruth, read_act_groundtruth
from .ava_io import read_exclusions, read_labelmap
from .box_csv import AVABoxRows, read_box_csv
from .detections import predictions_to_rows, write_detections_csv
from .evaluate import evaluate_csv, evaluate_predictions, evaluate_rows
from .tube_eval import evaluate_tube_detections, read_tube_detections_csv, write_tube_detections_csv
from .tube_linking import link_tubes
from .tube_map import FrameDetections, frame_ap, video_ap

__all__ = [
    "ActGroundTruth",
    "AVABoxRows",
    "FrameDetections",
    "evaluate_tube_detections",
    "frame_ap",
    "link_tubes",
    "read_act_groundtruth",
    "read_tube_detections_csv",
    "video_ap",
    "write_tube_detections_csv",
    "evaluate_csv",
    "evaluate_predictions",
    "evaluate_rows",
    "predictions_to_rows",
    "read_box_csv",
    "read_exclusions",
    "read_labelmap",
    "write_detections_csv",
]
