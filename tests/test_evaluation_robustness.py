"""Bad evaluation input and bad days: each gets a result, a counted warning or a clear error."""
import errno
import json
import logging
import os

import numpy as np
import pytest

from woo.evaluation import evaluate_csv, evaluate_predictions, write_detections_csv
from woo.formats import atomic
from woo.formats.ava_annotations import read_exclusions
from woo.formats.ava_box_csv import read_box_csv
from woo.formats.label_map import read_labelmap

BOX = (0.1, 0.1, 0.5, 0.5)
PROTOCOLS = ["official", "pyslowfast"]
MEAN = {"official": "frame_mAP@0.5", "pyslowfast": "frame_mAP@0.5_pyslowfast"}


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _rows(*rows):
    return "".join(",".join(str(v) for v in row) + "\n" for row in rows)


@pytest.fixture
def files(tmp_path):
    labelmap = _write(tmp_path, "map.pbtxt", 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n')
    groundtruth = _write(tmp_path, "gt.csv", _rows(("vid", "0902", *BOX, 1, 0), ("vid", "0903", *BOX, 2, 0)))
    return labelmap, groundtruth


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("text", ["", _rows(("vid", "0902", *BOX, 7, 0.9), ("vid", "0903", *BOX, 80, 0.5))],
                         ids=["empty", "all_outside_label_map"])
def test_no_evaluated_detection_gives_zero_with_a_warning(tmp_path, files, caplog, protocol, text):
    det = _write(tmp_path, "det.csv", text)
    with caplog.at_level(logging.WARNING):
        result = evaluate_csv(*files, det, protocol=protocol)
    assert result[MEAN[protocol]] == 0.0  # as the official evaluator gives (tests/data/ava_golden/empty)
    assert "det.csv: no detection of a class in the label map; frame-mAP is 0.0" in caplog.text


@pytest.mark.slow
def test_no_box_from_the_model_writes_metrics_and_completes(tmp_path, woo_datasets):
    import torch

    from woo.cli import main
    from woo.config import load_config
    from woo.modeling import build_model

    out = tmp_path / "eval"
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "Synthetic",
                          "WOO_Instant.yaml")
    weights = tmp_path / "init.pth"
    torch.save({"model": build_model(load_config(config)).state_dict()}, weights)
    assert main(["train", "--config-file", config, "--eval-only", "OUTPUT_DIR", str(out), "MODEL.WEIGHTS",
                 str(weights), "MODEL.WOO.SCORE_THRESH_TEST", "0.9999", "MODEL.WOO.MIN_DETECTIONS_PER_CLIP", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frame_mAP@0.5"] == 0.0 and metrics["frame_mAP@0.5_pyslowfast"] == 0.0
    assert (out / "inference" / "detections.csv").read_text() == ""
    log = (out / "log.txt").read_text()
    assert "0 of them with at least one detection" in log


@pytest.mark.parametrize("score", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize("quoted", [False, True])
def test_non_finite_score_is_an_error_naming_file_and_line(tmp_path, files, score, quoted):
    rows = [("vid", "0902", *BOX, 1, 0.9), ("vid", "0902", *BOX, 2, 0.5), ("vid", "0903", *BOX, 1, score)]
    if quoted:
        rows[0] = ('"vid"',) + rows[0][1:]
    det = _write(tmp_path, "det.csv", _rows(*rows))
    for protocol in PROTOCOLS:
        with pytest.raises(ValueError, match=rf"det\.csv:3: score '{score}' is not a finite number"):
            evaluate_csv(*files, det, protocol=protocol)


def test_non_finite_predicted_score_is_an_error(files):
    labelmap, groundtruth = files
    pred = {"video_id": "vid", "timestamp": 902, "boxes": np.array([BOX]), "scores": np.array([[0.5, np.nan]])}
    with pytest.raises(ValueError, match=r"predictions: 1 action scores are not finite.*\('vid', 902\)"):
        evaluate_predictions([pred], groundtruth, labelmap)


def test_inverted_and_pixel_boxes_are_counted_and_named(tmp_path, files, caplog):
    det = _write(tmp_path, "det.csv", _rows(
        ("vid", "0902", *BOX, 1, 0.9),
        ("vid", "0902", 0.5, 0.1, 0.1, 0.5, 1, 0.8),  # x1 > x2
        ("vid", "0902", 12, 10, 50, 50, 1, 0.7),  # pixels
        ("vid", "0903", 0.1, 0.5, 0.5, 0.5, 2, 0.6),  # y1 == y2
        ("vid", "0903", 20, 10, 60, 50, 2, 0.5),  # pixels
    ))
    with caplog.at_level(logging.WARNING):
        result = evaluate_csv(*files, det)
    assert result["frame_mAP@0.5"] == 0.5  # scored as the official evaluator does
    assert "det.csv: 2 detection rows have x1 >= x2 or y1 >= y2 (not scored, as in the official evaluator): " \
           "lines 2, 4" in caplog.text
    assert "det.csv: 2 detection rows have coordinates outside 0..1 (pixels instead of normalized " \
           "coordinates?): lines 3, 5" in caplog.text


@pytest.mark.parametrize("text", ["", "\n\n", _rows(("vid", "0902", *BOX, 9, 0))], ids=["empty", "blank", "other"])
def test_groundtruth_without_evaluated_boxes_is_an_error(tmp_path, files, text):
    labelmap, _ = files
    det = _write(tmp_path, "det.csv", _rows(("vid", "0902", *BOX, 1, 0.9)))
    with pytest.raises(ValueError, match=r"gt0\.csv: no ground-truth box of a class in the label map"):
        evaluate_csv(labelmap, _write(tmp_path, "gt0.csv", text), det)


def test_exclusions_of_videos_absent_from_groundtruth_warn_with_count(tmp_path, files, caplog):
    det = _write(tmp_path, "det.csv", _rows(("vid", "0902", *BOX, 1, 0.9)))
    ex = _write(tmp_path, "ex.csv", "vid,0903\nother,0902\nother,0903\nthird,0904\n")
    with caplog.at_level(logging.WARNING):
        evaluate_csv(*files, det, ex)
    assert "ex.csv: 3 excluded key frames of 2 videos absent from the ground truth (e.g. 'other')" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evaluate_csv(*files, det, _write(tmp_path, "ex2.csv", "vid,0903\n"))
    assert "absent from the ground truth" not in caplog.text


def test_utf8_byte_order_mark_is_read(tmp_path):
    bom = b"\xef\xbb\xbf"
    rows = _rows(("vid", "0902", *BOX, 1, 0.9), ("vid", "0903", *BOX, 2, 0.5)).encode()
    plain = read_box_csv(_write(tmp_path, "plain.csv", rows.decode()))
    for name, text in [("bom.csv", bom + rows), ("bom_quoted.csv", bom + b'"vid",0902,0.1,0.1,0.5,0.5,1,0.9\n')]:
        (tmp_path / name).write_bytes(text)
        for chunk_bytes in (2, 1 << 20):
            got = read_box_csv(str(tmp_path / name), chunk_bytes=chunk_bytes)
            assert got.keys[0] == ("vid", 902) and got.line[0] == 1
            assert got.boxes.tolist()[0] == plain.boxes.tolist()[0]
    (tmp_path / "map.pbtxt").write_bytes(bom + b'item {\n  name: "stand"\n  id: 1\n}\n')
    assert read_labelmap(str(tmp_path / "map.pbtxt")) == ([{"id": 1, "name": "stand"}], {1})
    (tmp_path / "ex.csv").write_bytes(bom + b"vid,0902\n")
    assert read_exclusions(str(tmp_path / "ex.csv")) == {("vid", 902)}


def test_disk_full_while_writing_detections_removes_the_temporary_file(tmp_path, monkeypatch):
    class FullDisk:
        """A file that is created, then cannot take a byte."""

        def __init__(self, fd, mode, **kwargs):
            self._file = real_fdopen(fd, mode, **kwargs)

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", FullDisk)
    path = tmp_path / "detections.csv"
    pred = {"video_id": "vid", "timestamp": 902, "boxes": np.array([BOX]), "scores": np.array([[0.5, 0.25]])}
    with pytest.raises(OSError, match=r"cannot write .*detections\.csv: no space left on device") as error:
        write_detections_csv(str(path), [pred])
    assert error.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_labels_outside_the_map_are_one_info_line(tmp_path, files, caplog):
    det = _write(tmp_path, "det.csv", _rows(*[("vid", "0902", *BOX, a, 0.5) for a in range(1, 81)]))
    with caplog.at_level(logging.INFO, logger="woo.evaluation"):
        evaluate_csv(*files, det)
    (record,) = [r for r in caplog.records if "outside the label map" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.getMessage() == "%s: 78 detection rows of 78 action ids outside the label map are not evaluated" % det
