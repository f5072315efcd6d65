"""Both AVA protocols: golden values of the reference evaluators, and randomized cases with ties."""
import csv
import heapq
import json
import os

import numpy as np
import pytest

from woo.evaluation import evaluate_csv
from woo.evaluation.frame_map import average_precision
from woo.formats.label_map import read_labelmap

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ava_golden")
EXPECTED = json.load(open(os.path.join(GOLDEN, "expected.json")))
CASES = sorted(case for case in EXPECTED if not case.startswith("_"))
KEYS = {"official": ("frame_mAP@0.5", "per_class"), "pyslowfast": ("frame_mAP@0.5_pyslowfast", "per_class_pyslowfast")}


def _files(folder):
    names = ["labelmap.pbtxt", "groundtruth.csv", "detections.csv", "exclusions.csv"]
    paths = [os.path.join(folder, name) for name in names]
    return paths[:3] + [paths[3] if os.path.exists(paths[3]) else None]


@pytest.mark.parametrize("protocol", ["official", "pyslowfast"])
@pytest.mark.parametrize("case", CASES)
def test_equals_the_reference_evaluators_to_the_last_digit(case, protocol):
    """Values printed by ActivityNet's get_ava_performance.py and PySlowFast's ava_eval_helper.py."""
    expected = EXPECTED[case][protocol]
    result = evaluate_csv(*_files(os.path.join(GOLDEN, case)), protocol=protocol)
    mean_key, per_class_key = KEYS[protocol]
    assert set(result) == {mean_key, per_class_key}
    assert result[mean_key] == expected["frame_mAP"]
    got = {name: None if np.isnan(ap) else ap for name, ap in result[per_class_key].items()}
    assert got == expected["per_class"]


def test_golden_cases_tell_the_protocols_apart():
    differ = [case for case in CASES if EXPECTED[case]["official"]["frame_mAP"] != EXPECTED[case]["pyslowfast"]["frame_mAP"]]
    assert len(differ) >= 5


# ------------------------------------------------------------------ randomized, against a plain re-statement
def _plain_frame_map(labelmap, groundtruth, detections, exclusions, protocol):
    """The protocols' rules written row by row with dicts and heapq (slow, obviously in order)."""
    categories, class_ids = read_labelmap(labelmap)
    excluded = {(v, int(t)) for v, t in csv.reader(open(exclusions))} if exclusions else set()

    def rows(path, capacity, sort):
        frames = {}
        for row in csv.reader(open(path)):
            action = int(row[6])
            if action not in class_ids:
                continue
            x1, y1, x2, y2 = map(float, row[2:6])
            entry = (float(row[7]) if len(row) == 8 else 1.0, action, y1, x1, y2, x2)
            frame = frames.setdefault((row[0], int(row[1])), [])
            if capacity < 1 or len(frame) < capacity:
                heapq.heappush(frame, entry) if sort else frame.append(entry)
            elif entry[0] > frame[0][0]:
                heapq.heapreplace(frame, entry)
        return {k: sorted(v, key=lambda e: -e[0]) if sort else v for k, v in frames.items() if k not in excluded}

    official = protocol == "official"
    gt = rows(groundtruth, 0, official)
    det = rows(detections, 50 if official else 0, official)
    scores = {c["id"]: [] for c in categories}
    tps = {c["id"]: [] for c in categories}
    for key, entries in det.items():
        for class_id in scores:
            boxes = [e for e in entries if e[1] == class_id and e[2] < e[4] and e[3] < e[5]]
            truth = [e[2:] for e in gt.get(key, []) if e[1] == class_id]
            taken = [False] * len(truth)
            for e in boxes:
                tp = False
                if truth:
                    ious = [_iou(e[2:], g) for g in truth]
                    best = int(np.argmax(ious))
                    if ious[best] >= 0.5 and not taken[best]:
                        taken[best] = tp = True
                scores[class_id].append(e[0])
                tps[class_id].append(tp)
    num_gt = {c: sum(e[1] == c for v in gt.values() for e in v) for c in scores}
    aps = {c["name"]: average_precision(np.array(scores[c["id"]], dtype=float), np.array(tps[c["id"]], dtype=bool),
                                        num_gt[c["id"]]) if num_gt[c["id"]] else float("nan") for c in categories}
    values = [ap for ap in aps.values() if not np.isnan(ap)]
    return float(np.mean(values)), aps


def _iou(a, b):
    """IoU of two ``y1, x1, y2, x2`` boxes."""
    h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _random_case(rng, folder):
    """Key frames of two videos, coarse scores (many ties), more than 50 rows on some key frames."""
    with open(folder / "labelmap.pbtxt", "w") as f:
        f.write("".join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 2, 4)))
    gt_rows, det_rows = [], []
    for video in ("v1", "v2"):
        for t in range(902, 905):
            n = int(rng.integers(1, 4))
            xy = rng.integers(0, 6, size=(n, 2)) / 10
            truth = np.concatenate([xy, xy + rng.integers(2, 5, size=(n, 2)) / 10], axis=1)
            gt_rows += [(video, t, *box, int(rng.integers(1, 5)), p) for p, box in enumerate(truth)]
            boxes = np.concatenate([truth, rng.integers(0, 10, size=(int(rng.integers(0, 20)), 4)) / 10])
            boxes = np.clip(boxes + rng.integers(-1, 2, size=boxes.shape) / 20, 0, 1)
            det_rows += [(video, t, *box, a, int(rng.integers(0, 8)) / 8) for box in boxes for a in range(1, 5)]
    order = rng.permutation(len(det_rows)) if rng.random() < 0.5 else np.arange(len(det_rows))
    for name, rows in (("groundtruth.csv", gt_rows), ("detections.csv", [det_rows[i] for i in order])):
        with open(folder / name, "w") as f:
            f.writelines(",".join(str(v) for v in row) + "\n" for row in rows)
    with open(folder / "exclusions.csv", "w") as f:
        f.write("v2,903\n")
    return [str(folder / n) for n in ("labelmap.pbtxt", "groundtruth.csv", "detections.csv", "exclusions.csv")]


@pytest.mark.parametrize("protocol", ["official", "pyslowfast"])
def test_randomized_cases_with_ties_equal_the_plain_rules(tmp_path, protocol):
    rng = np.random.default_rng(11)
    mean_key, per_class_key = KEYS[protocol]
    for trial in range(25):
        folder = tmp_path / f"case{trial}"
        folder.mkdir()
        files = _random_case(rng, folder)
        result = evaluate_csv(*files, protocol=protocol)
        expected_mean, expected_per_class = _plain_frame_map(*files, protocol=protocol)
        assert result[mean_key] == expected_mean or np.isnan(expected_mean)
        assert repr(result[per_class_key]) == repr(expected_per_class)
