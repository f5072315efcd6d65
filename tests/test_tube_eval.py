"""`woo tube-eval` and evaluate_tube_detections: perfect, partial and malformed detections."""
import json
import pickle
import re

import numpy as np
import pytest

from woo.cli import main as woo_main
from woo.evaluation.tube_eval import evaluate_tube_detections, read_tube_detections_csv, write_tube_detections_csv
from woo.evaluation.tube_map import FrameDetections
from woo.formats.act_groundtruth import read_act_groundtruth

KEYS = {"frame_mAP@0.5", "per_class", "video_mAP@0.2", "video_mAP@0.5", "video_mAP@0.75", "video_mAP@0.5:0.95"}


@pytest.fixture
def groundtruth(tmp_path):
    """Two classes, four 20-frame test videos (split 1), one actor tube each, moving right."""
    tubes = {f"v{i}": {i % 2: [np.array([[f, 10 + f + 5 * i, 20, 40 + f + 5 * i, 60] for f in range(1, 21)],
                                          dtype=np.float32)]} for i in range(4)}
    data = {"labels": ["run", "jump"], "gttubes": tubes, "nframes": {v: 20 for v in tubes},
            "train_videos": [[]], "test_videos": [sorted(tubes)], "resolution": {v: (120, 160) for v in tubes}}
    path = str(tmp_path / "GT.pkl")
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


def _rows_from_groundtruth(path, shift=0.0):
    gt = read_act_groundtruth(path)
    rows = []
    for video, per in gt.gttubes.items():
        for label, tubes in per.items():
            for row in tubes[0]:
                x1, y1, x2, y2 = row[1:5] + [shift, 0, shift, 0]
                rows.append(f"{video},{int(row[0])},{x1},{y1},{x2},{y2},{label},0.9")
                rows.append(f"{video},{int(row[0])},{x1},{y1},{x2},{y2},{1 - label},0.1")  # wrong class, lower
    return rows


def _run(tmp_path, groundtruth, rows, *extra):
    csv_path = tmp_path / "det.csv"
    csv_path.write_text("video_id,frame,x1,y1,x2,y2,label,score\n" + "\n".join(rows) + "\n")
    out = tmp_path / "map.json"
    code = woo_main(["tube-eval", "--groundtruth", groundtruth, "--detections", str(csv_path), "--json", str(out), *extra])
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_perfect_detections_score_one_everywhere(tmp_path, groundtruth, capsys):
    code, result = _run(tmp_path, groundtruth, _rows_from_groundtruth(groundtruth))
    assert code == 0 and set(result) == KEYS
    assert all(result[k] == pytest.approx(1.0) for k in KEYS - {"per_class"})
    assert result["per_class"] == {"run": pytest.approx(1.0), "jump": pytest.approx(1.0)}
    printed = capsys.readouterr().out
    assert "run" in printed and "video_mAP@0.5:0.95: 1.000000" in printed


def test_shifted_boxes_pass_low_thresholds_only(tmp_path, groundtruth):
    # Boxes 31 px wide shifted by 12 px: IoU (31 - 12) / (31 + 12) = 0.44 on every frame.
    _, result = _run(tmp_path, groundtruth, _rows_from_groundtruth(groundtruth, shift=12.0))
    assert result["frame_mAP@0.5"] == 0.0
    assert result["video_mAP@0.2"] == pytest.approx(1.0)
    assert result["video_mAP@0.5"] == 0.0 and result["video_mAP@0.5:0.95"] == 0.0


def test_missed_frames_lower_frame_map_and_tubes_follow_detections(tmp_path, groundtruth):
    rows = [r for r in _rows_from_groundtruth(groundtruth) if int(r.split(",")[1]) <= 16]
    _, result = _run(tmp_path, groundtruth, rows)
    assert result["frame_mAP@0.5"] == pytest.approx(0.8)  # 16 of 20 frames found, all ranked first
    # Tubes of frames 1..16 against tubes of 1..20: IoU 0.8, correct at thresholds 0.5 .. 0.8 (7 of 10).
    assert result["video_mAP@0.75"] == pytest.approx(1.0) and result["video_mAP@0.5:0.95"] == pytest.approx(0.7)
    # Tubes shorter than 15 frames (the linker's min_length, as in ACT) are dropped.
    rows = [r for r in rows if int(r.split(",")[1]) <= 10]
    _, result = _run(tmp_path, groundtruth, rows)
    assert result["frame_mAP@0.5"] == pytest.approx(0.5) and result["video_mAP@0.2"] == 0.0


@pytest.mark.parametrize("row, message", [
    ("v0,1,1,2,3", r"det.csv:2: expected 8 fields"),
    ("v0,one,1,2,3,4,0,0.5", r"det.csv:2: frame and label must be integers"),
    ("v0,21,1,2,3,4,0,0.5", r"det.csv:2: frame 21 outside 1..20 of 'v0'"),
    ("v0,1,1,2,3,4,2,0.5", r"det.csv:2: label 2 outside 0..1"),
    ("v0,1,1,2,3,nan,0,0.5", r"det.csv:2: box and score must be finite"),
])
def test_malformed_rows_name_file_and_line(tmp_path, groundtruth, row, message, capsys):
    code, result = _run(tmp_path, groundtruth, [row])
    err = capsys.readouterr().err
    assert code == 1 and result is None
    assert re.fullmatch(r"woo tube-eval: error: .*" + message + r".*\n", err), err


def test_rows_of_other_videos_are_counted(tmp_path, groundtruth, capsys):
    rows = _rows_from_groundtruth(groundtruth) + ["elsewhere,1,1,2,3,4,0,0.5"]
    _, result = _run(tmp_path, groundtruth, rows)
    assert result["frame_mAP@0.5"] == pytest.approx(1.0)
    assert "skipped 1 rows of 1 videos outside the evaluated split" in capsys.readouterr().err


def test_split_option_and_csv_round_trip(tmp_path, groundtruth, capsys):
    assert _run(tmp_path, groundtruth, [], "--split", "2")[0] == 1
    assert "GT.pkl: split 2 does not exist; the file has splits 1..1" in capsys.readouterr().err
    gt = read_act_groundtruth(groundtruth)
    videos = gt.videos("test")
    detections = FrameDetections([0, 3], [1, 5], [1, 0], [0.123456789, 0.5], [[1.5, 2.25, 30.125, 40], [0, 0, 9, 9]])
    path = str(tmp_path / "round.csv")
    write_tube_detections_csv(path, videos, detections)
    back = read_tube_detections_csv(path, gt, videos)
    for field in ("video", "frame", "label", "score", "boxes"):
        np.testing.assert_array_equal(getattr(back, field), getattr(detections, field))


def test_evaluated_frames_restrict_frame_map_ground_truth(groundtruth):
    gt = read_act_groundtruth(groundtruth)
    videos = gt.videos("test")
    every_fourth = {v: range(1, 21, 4) for v in videos}
    rows = [(i, f, label, *tube[f - 1, 1:5]) for i, v in enumerate(videos) for label, (tube,) in gt.gttubes[v].items()
            for f in every_fourth[v]]
    rows = np.array(rows, dtype=np.float64)
    detections = FrameDetections(rows[:, 0], rows[:, 1], rows[:, 2], np.full(len(rows), 0.9), rows[:, 3:7])
    sub = evaluate_tube_detections(gt, videos, detections, evaluated_frames=every_fourth, min_length=15)
    full = evaluate_tube_detections(gt, videos, detections, min_length=15)
    assert sub["frame_mAP@0.5"] == pytest.approx(1.0) and full["frame_mAP@0.5"] == pytest.approx(0.25)
    # Frames 1..17 linked every 4th frame and interpolated: IoU 17 / 20 with the ground truth, computed
    # in float32 as ACT does (0.85000002), so correct at 0.5 .. 0.85 (0.5 + 0.05 * 7 = 0.8500000000000001).
    assert sub["video_mAP@0.75"] == pytest.approx(1.0) and sub["video_mAP@0.5:0.95"] == pytest.approx(0.8)
