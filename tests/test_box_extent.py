"""benchmarks/box_extent.py: per class, whether the detected boxes reach the actors' top edge."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "box_extent.py")

LABELMAP = """label {
  name: "stand"
  label_id: 1
}
label {
  name: "raise arm"
  label_id: 6
}
"""


# v0: a standing actor, and one raising an arm (a box 0.4 tall); v1: one standing actor
GROUNDTRUTH = (
    "v0,0902,0.100,0.400,0.200,0.800,1,0\n"
    "v0,0902,0.500,0.200,0.600,0.600,1,1\n"
    "v0,0902,0.500,0.200,0.600,0.600,6,1\n"
    "v1,0902,0.100,0.100,0.300,0.500,1,0\n")


def _run(tmp_path, det_rows, groundtruth=GROUNDTRUTH):
    (tmp_path / "inference").mkdir(exist_ok=True)
    (tmp_path / "labelmap.pbtxt").write_text(LABELMAP)
    (tmp_path / "gt.csv").write_text(groundtruth)
    (tmp_path / "inference" / "detections.csv").write_text("".join(r + "\n" for r in det_rows))
    out = tmp_path / "extent.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--run", str(tmp_path), "--groundtruth", str(tmp_path / "gt.csv"),
                           "--labelmap", str(tmp_path / "labelmap.pbtxt"), "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    return proc, out


def test_box_extent_counts_boxes_short_of_the_top(tmp_path):
    proc, out = _run(tmp_path, [
        # the standing actor's box, exact
        "v0,0902,0.100,0.400,0.200,0.800,1,0.9",
        "v0,0902,0.100,0.400,0.200,0.800,6,0.1",
        # the arm-raising actor's box stops 0.1 (a quarter of its height) below its top
        "v0,0902,0.500,0.300,0.600,0.600,1,0.6",
        "v0,0902,0.500,0.300,0.600,0.600,6,0.3",
    ])
    assert proc.returncode == 0, proc.stderr
    classes = json.loads(out.read_text())["classes"]
    stand, arm = classes["stand"], classes["raise arm"]
    assert stand["actors"] == 3 and stand["reach_top"] == 1
    assert abs(stand["mean_iou"] - (1 + 0.75 + 0) / 3) < 1e-6  # the v1 actor has no detection
    assert abs(stand["score_reaching_top"] - 0.9) < 1e-9
    assert abs(stand["score_short_of_top"] - (0.6 + 0.0) / 2) < 1e-9
    assert arm == {"actors": 1, "mean_iou": 0.75, "reach_top": 0, "score_reaching_top": None,
                   "score_short_of_top": 0.3}
    assert "raise arm" in proc.stdout


def test_box_extent_error_is_one_line(tmp_path):
    proc, _ = _run(tmp_path, ["v0,0902,0.100,0.400,0.200,0.800,1,nan"])
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "detections.csv" in proc.stderr


def test_box_extent_zero_area_boxes_overlap_nothing(tmp_path):
    # a zero-area detection has IoU 0 / 0 with a zero-area actor: counted as no overlap, not NaN
    proc, out = _run(tmp_path, ["v0,0902,0.100,0.400,0.100,0.400,1,0.9"],
                     groundtruth="v0,0902,0.100,0.400,0.100,0.400,1,0\nv0,0902,0.100,0.400,0.200,0.800,1,1\n")
    assert proc.returncode == 0, proc.stderr
    stand = json.loads(out.read_text())["classes"]["stand"]
    assert stand["actors"] == 2 and stand["mean_iou"] == 0.0


def test_box_extent_unknown_dataset_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--run", str(tmp_path), "--dataset", "no_such_split"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "--dataset" in proc.stderr and "no_such_split" in proc.stderr
