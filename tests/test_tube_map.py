"""Frame-mAP and video-mAP against numbers ACT's own code computed, and by hand."""
import json
import os

import numpy as np
import pytest

from woo.evaluation.tube_map import (
    VIDEO_MAP_THRESHOLDS,
    FrameDetections,
    frame_ap,
    inclusive_iou,
    trapezoidal_ap,
    tube_iou,
    tube_nms,
    video_ap,
)

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tube_map_golden.json")


def _load_cases():
    with open(GOLDEN) as f:
        return json.load(f)["cases"]


def _groundtruth(case):
    return {v: {int(label): [np.array(t, dtype=np.float32) for t in tubes] for label, tubes in per.items()}
            for v, per in case["gttubes"].items()}


def _frame_detections(case):
    rows = np.array(case["frame_detections"], dtype=np.float32).reshape(-1, 8)
    return FrameDetections(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4:8])


def _tubes(case):
    return {v: {int(label): [(np.array(t, dtype=np.float32), np.float32(s)) for t, s in scored]
                for label, scored in per.items()} for v, per in case["tubes"].items()}


@pytest.mark.parametrize("case", _load_cases(), ids=lambda c: f"seed{c['seed']}")
def test_frame_ap_equals_act(case):
    aps = frame_ap(_groundtruth(case), case["videos"], len(case["labels"]), _frame_detections(case))
    np.testing.assert_allclose(aps, case["expected"]["frame_ap"], rtol=0, atol=1e-6)
    assert abs(aps.mean() - case["expected"]["frame_map"]) < 1e-6


@pytest.mark.parametrize("case", _load_cases(), ids=lambda c: f"seed{c['seed']}")
def test_video_ap_equals_act_at_every_threshold(case):
    gt, tubes, num_classes = _groundtruth(case), _tubes(case), len(case["labels"])
    for threshold, expected in case["expected"]["video_ap"].items():
        aps = video_ap(gt, case["videos"], num_classes, tubes, float(threshold))
        np.testing.assert_allclose(aps, expected["per_class"], rtol=0, atol=1e-6, err_msg=f"threshold {threshold}")
        assert abs(aps.mean() - expected["mean"]) < 1e-6


def test_golden_cases_hold_ties_and_all_thresholds():
    cases = _load_cases()
    tied = 0
    for case in cases:
        scores = np.array(case["frame_detections"], dtype=np.float32)[:, 3]
        tied += len(scores) - len(np.unique(scores))
    assert tied > 100
    assert {float(t) for t in cases[0]["expected"]["video_ap"]} == {0.2, 0.5, 0.75, *VIDEO_MAP_THRESHOLDS}


def test_tie_order_decides_ap_as_act_lists_detections():
    # Two detections of equal score on one frame, one right, one wrong: the one listed first ranks first.
    gt = {"v": {0: [np.array([[1, 0, 0, 9, 9]], dtype=np.float32)]}}
    right, wrong = [0, 0, 9, 9], [50, 50, 59, 59]
    first_right = FrameDetections([0, 0], [1, 1], [0, 0], [0.5, 0.5], [right, wrong])
    first_wrong = FrameDetections([0, 0], [1, 1], [0, 0], [0.5, 0.5], [wrong, right])
    assert frame_ap(gt, ["v"], 1, first_right)[0] == pytest.approx(1.0)
    # precision 1 -> 0 -> 0.5 at recall 0, 0, 1: area (0.5 + 0) / 2 = 0.25
    assert frame_ap(gt, ["v"], 1, first_wrong)[0] == pytest.approx(0.25)


def test_inclusive_iou_counts_the_last_pixel():
    a = np.array([[0, 0, 9, 9]], dtype=np.float64)  # 10 x 10 pixels
    b = np.array([5, 0, 14, 9], dtype=np.float64)  # overlap 5 x 10
    assert inclusive_iou(a, b)[0] == pytest.approx(50 / 150)
    assert inclusive_iou(a, np.array([10, 0, 19, 9.0]))[0] == 0.0


def test_tube_iou_is_mean_frame_iou_times_temporal_iou():
    tube = np.array([[f, 0, 0, 9, 9] for f in range(1, 11)], dtype=np.float64)  # frames 1..10
    other = np.array([[f, 0, 0, 9, 9] for f in range(6, 16)], dtype=np.float64)  # frames 6..15
    assert tube_iou(tube, other) == pytest.approx(5 / 15)
    other[:, 3] = 19  # twice as wide: per-frame IoU 0.5
    assert tube_iou(tube, other) == pytest.approx(0.5 * 5 / 15)
    assert tube_iou(tube, np.array([[20, 0, 0, 9, 9]], dtype=np.float64)) == 0.0


def test_tube_nms_keeps_best_and_drops_overlaps():
    base = np.array([[f, 0, 0, 9, 9] for f in range(1, 11)], dtype=np.float32)
    far = base.copy()
    far[:, 1:5] += 100
    kept = tube_nms([base, base.copy(), far], np.array([0.5, 0.9, 0.1], dtype=np.float32), 0.3)
    assert kept == [1, 2]
    assert tube_nms([], np.zeros(0, dtype=np.float32), 0.3) == []


def test_trapezoidal_ap_by_hand():
    precision = np.array([1.0, 1.0, 0.5, 2 / 3], dtype=np.float32)
    recall = np.array([0.0, 0.5, 0.5, 1.0], dtype=np.float32)
    # 0.5 * (1 + 1) / 2 + 0 + 0.5 * (0.5 + 2/3) / 2
    assert trapezoidal_ap(precision, recall) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2, abs=1e-7)


def test_class_without_groundtruth_is_nan_and_left_out():
    gt = {"v": {0: [np.array([[1, 0, 0, 9, 9]], dtype=np.float32)]}}
    aps = frame_ap(gt, ["v"], 2, FrameDetections([0, 0], [1, 1], [0, 1], [0.9, 0.8], [[0, 0, 9, 9]] * 2))
    assert aps[0] == pytest.approx(1.0) and np.isnan(aps[1])


def test_frame_detections_fields_must_agree():
    with pytest.raises(ValueError, match="differ in length"):
        FrameDetections([0], [1, 2], [0], [0.5], [[0, 0, 1, 1]])
