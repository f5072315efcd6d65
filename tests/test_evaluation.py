"""AVA frame-mAP: one hand-computed case per rule of the official evaluator."""
import json
import math
import os

import numpy as np
import pytest

from woo.commands import ava_eval as cli
from woo.evaluation import evaluate_csv, evaluate_predictions, write_detections_csv
from woo.formats.ava_box_csv import read_box_csv
from woo.formats.label_map import read_labelmap

GT_BOX = (0.1, 0.1, 0.5, 0.5)
FAR_BOX = (0.6, 0.6, 0.9, 0.9)


@pytest.fixture
def labelmap(tmp_path):
    path = tmp_path / "labelmap.pbtxt"
    path.write_text('item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n')
    return str(path)


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return str(path)


def _gt(tmp_path, rows=None):
    rows = rows or [("vid", "0902", *GT_BOX, 1, 0)]
    return _csv(tmp_path, "gt.csv", rows)


def _ap(tmp_path, labelmap, det_rows, gt_rows=None, exclusions=None):
    ex = _csv(tmp_path, "ex.csv", exclusions) if exclusions else None
    result = evaluate_csv(labelmap, _gt(tmp_path, gt_rows), _csv(tmp_path, "det.csv", det_rows), ex)
    return result


def test_true_positive_and_class_without_groundtruth(tmp_path, labelmap):
    result = _ap(tmp_path, labelmap, [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", *GT_BOX, 2, 0.8)])
    assert result["per_class"]["stand"] == 1.0
    assert math.isnan(result["per_class"]["sit"])  # no ground truth: NaN, left out of the mean
    assert result["frame_mAP@0.5"] == 1.0


def test_cap_of_50_detections_per_key_frame(tmp_path, labelmap):
    higher = [("vid", "0902", *FAR_BOX, 2, 0.9)] * 50
    match = ("vid", "0902", *GT_BOX, 1, 0.5)
    assert _ap(tmp_path, labelmap, higher + [match])["frame_mAP@0.5"] == 0.0  # the match is the 51st
    assert _ap(tmp_path, labelmap, higher[:49] + [match])["frame_mAP@0.5"] == 1.0
    # Non-evaluated classes do not use up the cap.
    assert _ap(tmp_path, labelmap, [("vid", "0902", *FAR_BOX, 3, 0.9)] * 60 + [match])["frame_mAP@0.5"] == 1.0


def test_exclusions_drop_groundtruth_and_detections(tmp_path, labelmap):
    gt = [("vid", "0902", *GT_BOX, 1, 0), ("vid", "0903", *GT_BOX, 1, 0)]
    det = [("vid", "0902", *FAR_BOX, 1, 0.9), ("vid", "0903", *GT_BOX, 1, 0.5)]
    assert _ap(tmp_path, labelmap, det, gt)["frame_mAP@0.5"] == 0.25  # P=1/2 at R=1/2
    assert _ap(tmp_path, labelmap, det, gt, exclusions=[("vid", "902")])["frame_mAP@0.5"] == 1.0


def test_duplicate_groundtruth_rows_are_separate_instances(tmp_path, labelmap):
    gt = [("vid", "0902", *GT_BOX, 1, 0)] * 2
    assert _ap(tmp_path, labelmap, [("vid", "0902", *GT_BOX, 1, 0.9)], gt)["frame_mAP@0.5"] == 0.5
    # Both detections pick the first of the equal ground truths (argmax), so the second is a
    # false positive; the tie in score puts it first (numpy argsort, reversed): AP = 1/2 * 1/2.
    assert _ap(tmp_path, labelmap, [("vid", "0902", *GT_BOX, 1, 0.9)] * 2, gt)["frame_mAP@0.5"] == 0.25
    assert _ap(tmp_path, labelmap, [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", *GT_BOX, 1, 0.8)],
               gt)["frame_mAP@0.5"] == 0.5


def test_detections_on_frames_without_groundtruth_are_false_positives(tmp_path, labelmap):
    det = [("other", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", *GT_BOX, 1, 0.5)]
    assert _ap(tmp_path, labelmap, det)["frame_mAP@0.5"] == 0.5


def test_unsorted_input(tmp_path, labelmap):
    gt = [("vid", "0903", *GT_BOX, 1, 0), ("vid", "0902", *GT_BOX, 1, 0)]
    det = [("vid", "0903", *GT_BOX, 1, 0.2), ("vid", "0902", *FAR_BOX, 1, 0.5), ("vid", "0902", *GT_BOX, 1, 0.9)]
    # Sorted by score: TP, FP, TP -> AP = 1/2 * 1 + 1/2 * 2/3.
    assert _ap(tmp_path, labelmap, det, gt)["frame_mAP@0.5"] == pytest.approx(0.5 + 1 / 3, abs=1e-15)


def test_invalid_boxes_are_dropped_not_false_positives(tmp_path, labelmap):
    flat = ("vid", "0902", 0.5, 0.1, 0.5, 0.5, 1, 0.95)  # x1 == x2
    inverted = ("vid", "0902", 0.5, 0.5, 0.1, 0.1, 1, 0.99)  # x1 > x2, y1 > y2
    match = ("vid", "0902", *GT_BOX, 1, 0.5)
    assert _ap(tmp_path, labelmap, [flat, inverted, match])["frame_mAP@0.5"] == 1.0


def test_iou_threshold_and_greedy_argmax_matching(tmp_path, labelmap):
    # IoU exactly 0.5 (binary-exact coordinates) is a match; just below is not.
    gt = [("vid", "0902", 0.0, 0.0, 0.5, 0.5, 1, 0)]
    assert _ap(tmp_path, labelmap, [("vid", "0902", 0.0, 0.0, 0.25, 0.5, 1, 0.9)], gt)["frame_mAP@0.5"] == 1.0
    assert _ap(tmp_path, labelmap, [("vid", "0902", 0.0, 0.0, 0.2499, 0.5, 1, 0.9)], gt)["frame_mAP@0.5"] == 0.0
    # The second detection's best ground truth is already taken: false positive, even though
    # its IoU with the other ground truth is >= 0.5.
    gt = [("vid", "0902", 0.0, 0.0, 0.4, 0.4, 1, 0), ("vid", "0902", 0.0, 0.0, 0.4, 0.5, 1, 1)]
    det = [("vid", "0902", 0.0, 0.0, 0.4, 0.4, 1, 0.9), ("vid", "0902", 0.0, 0.0, 0.4, 0.4, 1, 0.8)]
    assert _ap(tmp_path, labelmap, det, gt)["frame_mAP@0.5"] == 0.5


def test_timestamps_compare_as_integers(tmp_path, labelmap):
    assert _ap(tmp_path, labelmap, [("vid", "902", *GT_BOX, 1, 0.9)])["frame_mAP@0.5"] == 1.0


def test_malformed_rows_name_file_and_line(tmp_path, labelmap):
    det = _csv(tmp_path, "det.csv", [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", 0.1, 0.2, 1)])
    with pytest.raises(ValueError, match=r"det\.csv:2: expected 2, 7 or 8"):
        evaluate_csv(labelmap, _gt(tmp_path), det)
    det = _csv(tmp_path, "det.csv", [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", 0.1, "x", 0.5, 0.5, 1, 0.3)])
    with pytest.raises(ValueError, match=r"det\.csv:2: y1 'x' is not a number"):
        evaluate_csv(labelmap, _gt(tmp_path), det)


def test_reader_skips_and_counts_other_classes(tmp_path):
    path = _csv(tmp_path, "det.csv", [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", *GT_BOX, 7, 0.8),
                                      ("vid", "0903"), ('"vid"', "0903", *GT_BOX, 1, "1e-3")])
    rows = read_box_csv(path, {1})
    assert rows.skipped == {7: 1}
    assert rows.line.tolist() == [1, 4]
    assert rows.score.tolist() == [0.9, 0.001]
    assert [rows.keys[k] for k in rows.key] == [("vid", 902), ("vid", 903)]


def test_predictions_equal_written_csv(tmp_path, labelmap):
    rng = np.random.default_rng(0)
    gt_rows, preds = [], []
    for t in range(902, 912):
        xy = rng.uniform(0, 0.5, size=(3, 2))
        boxes = np.concatenate([xy, xy + 0.4], axis=1).round(3)
        gt_rows += [("vid", f"{t:04d}", *box, int(rng.integers(1, 3)), p) for p, box in enumerate(boxes)]
        noisy = np.clip(boxes + rng.normal(0, 0.05, boxes.shape), 0, 1)
        preds.append({"video_id": "vid", "timestamp": t, "boxes": noisy, "scores": rng.random((3, 3)).round(6)})
    gt = _gt(tmp_path, gt_rows)
    det = str(tmp_path / "written.csv")
    write_detections_csv(det, [{**p, "boxes": p["boxes"].round(3)} for p in preds])
    first = open(det).readline().strip().split(",")
    assert first[:2] == ["vid", "0902"] and first[6] == "1" and len(first[7]) == 8
    from_memory = evaluate_predictions([{**p, "boxes": p["boxes"].round(3)} for p in preds], gt, labelmap)
    from_csv = evaluate_csv(labelmap, gt, det)
    from_csv_pyslowfast = evaluate_csv(labelmap, gt, det, protocol="pyslowfast")
    assert from_memory == {**from_csv, **from_csv_pyslowfast}
    assert 0 < from_csv["frame_mAP@0.5"] < 1


def test_cli_prints_and_writes_json(tmp_path, labelmap, capsys):
    det = _csv(tmp_path, "det.csv", [("vid", "0902", *GT_BOX, 1, 0.9)])
    out = tmp_path / "out" / "result.json"
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    args = ["--labelmap", labelmap, "--groundtruth", _gt(tmp_path), "--detections", det, "--json", str(out)]
    assert cli.main(parser.parse_args(args)) == 0
    assert "frame-mAP@0.5 (official protocol): 1.000000" in capsys.readouterr().out
    assert json.loads(out.read_text()) == {"frame_mAP@0.5": 1.0, "per_class": {"stand": 1.0, "sit": None},
                                           "protocol": "official", "mAP": 1.0}
    assert cli.main(parser.parse_args(args + ["--protocol", "pyslowfast"])) == 0
    assert json.loads(out.read_text()) == {"frame_mAP@0.5_pyslowfast": 1.0, "per_class": {"stand": 1.0, "sit": None},
                                           "protocol": "pyslowfast", "mAP": 1.0}


# Numeric forms of the fast byte parser and of its fallback; each must read as float(text).
EXOTIC_NUMBERS = ["0.123", "0.123456", "0902", "12", "1", ".5", "5.", "+0.25", "-0.0", "1e-3", "1E3", " 0.5",
                  "0.5 ", "nan", "inf", "-inf", "1_0", "00.50", "0.0", "123456789012345", "1234567890123456",
                  "12345678.9012345", "0.30000000000000004", "9.999999999999999", "0.1234567890123456789",
                  "99999999.", "0.000000000000001"]


def _bits(values):
    return [float(v).hex() if v == v else "nan" for v in values]


def test_reader_numbers_equal_python_float(tmp_path):
    rng = np.random.default_rng(0)
    # Random digit strings of every length and dot position the fast path takes, and a few beyond.
    randoms = []
    for _ in range(3000):
        digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 18))))
        dot = int(rng.integers(0, len(digits) + 2))
        randoms.append(digits if dot > len(digits) else digits[:dot] + "." + digits[dot:])
    texts = EXOTIC_NUMBERS + randoms
    rows = [("vid", "0902", texts[i], texts[(i + 1) % len(texts)], texts[(i + 2) % len(texts)],
             texts[(i + 3) % len(texts)], ["1", "007", "+3", "12"][i % 4], texts[(i + 4) % len(texts)])
            for i in range(len(texts))]
    path = _csv(tmp_path, "det.csv", rows)
    got = read_box_csv(path)
    expected = np.array([[float(v) for v in row[2:6]] for row in rows])
    assert _bits(got.boxes.ravel()) == _bits(expected.ravel())
    assert _bits(got.score) == _bits([float(row[7]) for row in rows])
    assert got.action_id.tolist() == [int(row[6]) for row in rows]
    # Chunks that cut through lines give the same rows.
    small = read_box_csv(path, chunk_bytes=97)
    assert _bits(small.boxes.ravel()) == _bits(expected.ravel()) and small.line.tolist() == got.line.tolist()


def test_reader_line_endings_blank_lines_and_quotes(tmp_path):
    rows = [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0903", *GT_BOX, 2, "1e-3"), ("vid", "0904")]
    plain = read_box_csv(_csv(tmp_path, "plain.csv", rows))
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b"".join(",".join(map(str, row)).encode() + b"\r\n" for row in rows) + b"\r\n\r\n")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text("".join(",".join(f'"{v}"' for v in row) + "\n" for row in rows) + "\n")
    no_newline = tmp_path / "last.csv"
    no_newline.write_text("\n".join(",".join(map(str, row)) for row in rows))
    for other in (crlf, quoted, no_newline):
        got = read_box_csv(str(other))
        assert got.keys == plain.keys == [("vid", 902), ("vid", 903), ("vid", 904)]
        assert got.line.tolist() == [1, 2]
        assert got.boxes.tolist() == plain.boxes.tolist() == [list(GT_BOX)] * 2
        assert got.score.tolist() == [0.9, 0.001] and got.action_id.tolist() == [1, 2]


def test_bad_numbers_name_their_line(tmp_path):
    for bad, what in [(("1.2.3", 1, 0.5), "y2 '1.2.3' is not a number"), (("0.5", "1.0", 0.5), "action_id '1.0'"),
                      (("0.5", 1, "."), "score '.'"), (("", 1, 0.5), "empty y2")]:
        rows = [("vid", "0902", *GT_BOX, 1, 0.9), ("vid", "0902", 0.1, 0.1, 0.5, *bad)]
        with pytest.raises(ValueError, match=rf"det\.csv:2: {what}"):
            read_box_csv(_csv(tmp_path, "det.csv", rows))


def test_heap_candidates_keep_the_official_heap_result():
    from woo.evaluation.frame_map import _heap_candidates, _official_order

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(1, 400))
        key = np.sort(rng.integers(0, 4, n)) if trial % 2 else rng.integers(0, 4, n)
        # Fine scores are almost all distinct; coarse ones tie.
        score = rng.random(n) if trial % 3 else rng.integers(0, 20, n) / 20
        boxes = rng.random((n, 4))
        if trial % 5 == 0:
            boxes[rng.integers(0, n), 0] = np.nan
        action = rng.integers(1, 4, n)
        keep = _heap_candidates(key, score, np.isnan(boxes).any(1), 50)
        for k in np.unique(key):
            def heap(mask):
                rows = np.flatnonzero((key == k) & mask)
                entries = [(score[i], action[i], *boxes[i, [1, 0, 3, 2]]) for i in rows]
                return repr(_official_order(entries, 50))
            assert heap(keep) == heap(np.ones(n, dtype=bool))
            if trial % 3 and trial % 5 and (key == k).sum() > 50:
                assert (keep & (key == k)).sum() == 50  # distinct scores: only the 50 best are needed


def test_reader_selection_of_complete_key_frames(tmp_path):
    def top_two(key, score, nan_box):  # per key frame, its two best rows
        keep = np.zeros(len(key), dtype=bool)
        for k in np.unique(key):
            rows = np.flatnonzero(key == k)
            keep[rows[np.argsort(-score[rows], kind="stable")[:2]]] = True
        return keep

    grouped = [("a", "0902", *GT_BOX, 1, s) for s in (0.1, 0.5, 0.3, 0.9)] + [("b", "0902", *GT_BOX, 1, 0.2)]
    ungrouped = grouped[:2] + grouped[4:] + grouped[2:4] + [("c", "0902", *GT_BOX, 2, 0.1)]
    for rows, lines in [(grouped, [2, 4, 5]), (ungrouped, [1, 2, 3, 5])]:
        path = _csv(tmp_path, "det.csv", rows)
        for chunk_bytes in (30, 1 << 20):  # key frames cut by chunks, or not
            got = read_box_csv(path, {1}, chunk_bytes=chunk_bytes, select=top_two)
            # Ungrouped files keep each key frame's first row, which orders the key frames.
            assert got.line.tolist() == lines and got.skipped == ({2: 1} if rows is ungrouped else {})
    assert read_box_csv(_csv(tmp_path, "empty.csv", [("a", "0902")]), {1}, select=top_two).line.tolist() == []


_OFFICIAL_LABELMAP = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "ava",
    "ava_action_list_v2.1_for_activitynet_2018.pbtxt",
)


@pytest.mark.skipif(not os.path.exists(_OFFICIAL_LABELMAP), reason="the official AVA label map is not beside the checkout")
def test_official_60_class_labelmap_is_the_evaluation_whitelist():
    categories, ids = read_labelmap(_OFFICIAL_LABELMAP)
    assert len(categories) == len(ids) == 60
    # the 20 AVA classes the ActivityNet challenge does not evaluate
    assert set(range(1, 81)) - ids == {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
    assert categories[0] == {"id": 1, "name": "bend/bow (at the waist)"}
    assert categories[-1] == {"id": 80, "name": "watch (a person)"}


def test_fixed_point_equals_python_formatting():
    from woo.evaluation.detections import _fixed_point

    edges = [0.9213565, 0.1234565, 0.0000005, 0.0000015, 2.5e-7, 1e-7, 0.5, 0.0, -0.0, -1e-9, -0.5, 9.9999994,
             9.9999995, 9.9999996, 10.0, 123.4567895, float("nan"), float("inf"), float("-inf"), 1e300]
    rng = np.random.default_rng(0)
    # Exact half units before rounding to binary: the cases a float product can round the wrong way.
    halves = (rng.integers(0, 10**7, 20000) + 0.5) / 10**6
    for decimals in (3, 6):
        values = np.concatenate([edges, halves, rng.random(20000), rng.random(2000) * 10])
        assert _fixed_point(values, decimals).tolist() == [f"{v:.{decimals}f}".encode() for v in values.tolist()]
    assert _fixed_point(np.array([0.9213565]), 6).tolist() == [b"0.921357"]
