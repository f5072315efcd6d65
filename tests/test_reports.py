"""The evaluation report, `woo compare` and the demo page: written, parseable, and showing the numbers
of the files they come from."""
import json
import os
import pickle
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

from woo.cli import main
from woo.formats.eval_details import load_details
from woo.reports.evaluation_report import REPORT_FILES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a test reads of a page: image sources, links, figures, tables and embedded JSON."""

    def __init__(self, path):
        super().__init__()
        self.images, self.links, self.figures, self.tables, self.scripts = [], [], {}, {}, {}
        self._table = self._row = self._cell = self._script = None
        with open(path, encoding="utf-8") as f:
            self.feed(f.read())
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if attrs.get("src") and tag != "img":
            self.links.append(attrs["src"])
        if attrs.get("href"):
            self.links.append(attrs["href"])
        if "data-key" in attrs:
            self.figures[attrs["data-key"]] = json.loads(attrs["data-value"])
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = {"text": "", "value": attrs.get("data-value"), "start": None}
        elif tag == "a" and self._cell is not None and "data-start" in attrs:
            self._cell.setdefault("starts", []).append(float(attrs["data-start"]))
        elif tag == "script":
            self._script = [attrs.get("id", ""), ""]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._cell["text"] = self._cell["text"].strip()
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            self.scripts[self._script[0]] = self._script[1]
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._script is not None:
            self._script[1] += data


def assert_images_are_pngs(page, folder):
    assert page.images
    for src in page.images:
        assert "/" not in src and ":" not in src, f"{src} is not a file beside the page"
        with open(os.path.join(folder, src), "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, src


def value(cell):
    return None if cell["value"] == "null" else float(cell["value"])


# ------------------------------------------------------------------ woo ava-eval --report
LABELMAP = "".join(f'label {{\n  name: "{name}"\n  label_id: {i}\n  label_type: {kind}\n}}\n' for i, name, kind in [
    (1, "stand", "PERSON_MOVEMENT"), (2, "carry", "OBJECT_MANIPULATION"), (3, "talk to", "PERSON_INTERACTION"),
    (4, "swim", "PERSON_MOVEMENT")])
A, B, C = "0.1,0.1,0.4,0.9", "0.5,0.1,0.8,0.9", "0.2,0.2,0.6,0.8"
GROUNDTRUTH = [f"v1,0902,{A},1,0", f"v1,0902,{A},2,0", f"v1,0902,{B},1,1", f"v1,0902,{B},3,1",
               f"v1,0903,{A},1,0", f"v2,0902,{C},2,0"]
DETECTIONS = [f"v1,0902,{A},1,0.9", f"v1,0902,{A},2,0.3", f"v1,0902,{B},1,0.8", f"v1,0902,{A},3,0.7",
              "v1,0903,0.6,0.1,0.9,0.9,1,0.6", f"v2,0902,{C},2,0.95", f"v2,0902,{C},1,0.5"]


@pytest.fixture
def ava_files(tmp_path):
    files = {"labelmap": tmp_path / "map.pbtxt", "groundtruth": tmp_path / "gt.csv", "detections": tmp_path / "det.csv"}
    files["labelmap"].write_text(LABELMAP)
    files["groundtruth"].write_text("\n".join(GROUNDTRUTH) + "\n")
    files["detections"].write_text("\n".join(DETECTIONS) + "\n")
    return {k: str(v) for k, v in files.items()}


def test_ava_eval_report_shows_the_evaluation(tmp_path, ava_files, capsys):
    report = tmp_path / "report"
    assert main(["ava-eval", "--labelmap", ava_files["labelmap"], "--groundtruth", ava_files["groundtruth"],
                 "--detections", ava_files["detections"], "--report", str(report)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {report / 'index.html'}"
    assert sorted(os.listdir(report)) == sorted(["index.html", "metrics.json", "eval_details.npz", *REPORT_FILES])
    metrics = json.loads((report / "metrics.json").read_text())
    # By hand: stand has 3 pairs, found at ranks 1 and 2 of 4 (AP 2/3); carry both (1); talk to none (0).
    assert metrics["per_class"] == {"stand": pytest.approx(2 / 3), "carry": 1.0, "talk to": 0.0, "swim": None}
    assert metrics["frame_mAP@0.5"] == pytest.approx(5 / 9)

    page = Page(report / "index.html")
    assert_images_are_pngs(page, report)
    assert sorted(page.images) == sorted(REPORT_FILES)
    assert page.figures == {"frame_mAP@0.5": metrics["frame_mAP@0.5"],
                            "frame_mAP@0.5_pyslowfast": metrics["frame_mAP@0.5_pyslowfast"]}
    rows = page.tables["per-class"]
    assert [r[0]["text"] for r in rows] == ["carry", "stand", "talk to", "swim"]  # best first, no AP last
    assert [r[1]["text"] for r in rows] == ["object interaction", "pose", "person interaction", "pose"]
    for row in rows:
        assert value(row[2]) == metrics["per_class"][row[0]["text"]]
        assert row[2]["text"] == ("-" if value(row[2]) is None else f"{value(row[2]):.4f}")
    assert [(r[3]["text"], r[4]["text"]) for r in rows] == [("2", "2"), ("3", "4"), ("1", "1"), ("0", "0")]
    # Missed pairs: (B, talk to) at v1 902, and (A, stand) at v1 903 (its detection does not overlap it).
    assert [[c["text"] for c in r] for r in page.tables["missed"]] == [["v1", "902", "1", "4"], ["v1", "903", "1", "1"]]


def test_a_report_folder_that_cannot_be_written_is_one_line_before_evaluating(tmp_path, ava_files, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["ava-eval", "--labelmap", ava_files["labelmap"], "--groundtruth", ava_files["groundtruth"],
                 "--detections", ava_files["detections"], "--report", str(blocker)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"woo ava-eval: error: --report {blocker} exists and is not a folder"]
    # The ground truth is never read: the folder is checked first.
    assert main(["tube-eval", "--groundtruth", str(tmp_path / "absent.pkl"), "--detections", ava_files["detections"],
                 "--report", str(blocker / "sub")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"woo tube-eval: error: --report {blocker / 'sub'}: {blocker} is not a folder"]


def test_the_kept_curves_give_back_each_ap(tmp_path, ava_files):
    report = tmp_path / "report"
    assert main(["ava-eval", "--labelmap", ava_files["labelmap"], "--groundtruth", ava_files["groundtruth"],
                 "--detections", ava_files["detections"], "--report", str(report), "--protocol", "pyslowfast"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    details = load_details(str(report / "eval_details.npz"))
    assert set(details) == {"official", "pyslowfast"} and metrics["protocol"] == "pyslowfast"
    for protocol, d in details.items():
        assert d.num_groundtruth.tolist() == [3, 2, 1, 0] and d.num_detections.tolist() == [4, 2, 1, 0]
        for name, precision, recall, ap in zip(d.class_names, d.precision, d.recall, d.ap):
            if np.isnan(ap):
                continue
            # VOC all-point AP: the area under the interpolated curve of the kept points.
            envelope = np.maximum.accumulate(precision[::-1].astype(float))[::-1]
            area = float(np.sum(np.diff(np.r_[0.0, recall.astype(float)]) * envelope))
            assert area == pytest.approx(ap, abs=1e-6), (protocol, name)
    assert metrics["per_class"]["stand"] == pytest.approx(details["pyslowfast"].ap[0])


# ------------------------------------------------------------------ woo tube-eval --report
def test_tube_eval_report_shows_frame_and_video_map(tmp_path, capsys):
    tubes = {f"v{i}": {i % 2: [np.array([[f, 10 + 5 * i, 20, 40 + 5 * i, 60] for f in range(1, 11)],
                                        dtype=np.float32)]} for i in range(3)}
    gt = tmp_path / "GT.pkl"
    with open(gt, "wb") as f:
        pickle.dump({"labels": ["run", "jump"], "gttubes": tubes, "nframes": {v: 10 for v in tubes},
                     "train_videos": [[]], "test_videos": [sorted(tubes)],
                     "resolution": {v: (120, 160) for v in tubes}}, f)
    # v0 and v2 (run) are found on frames 1..10; v1 (jump) only on frames 1..4.
    rows = [f"v{i},{fr},{10 + 5 * i},20,{40 + 5 * i},60,{i % 2},0.9" for i in range(3) for fr in range(1, 11)
            if i != 1 or fr <= 4]
    det = tmp_path / "det.csv"
    det.write_text("\n".join(rows) + "\n")
    report = tmp_path / "report"
    assert main(["tube-eval", "--groundtruth", str(gt), "--detections", str(det), "--report", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    page = Page(report / "index.html")
    assert_images_are_pngs(page, report)
    assert page.figures == {k: v for k, v in metrics.items() if k != "per_class"}
    assert list(page.figures) == ["frame_mAP@0.5", "video_mAP@0.2", "video_mAP@0.5", "video_mAP@0.75",
                                  "video_mAP@0.5:0.95"]
    assert {r[0]["text"]: value(r[2]) for r in page.tables["per-class"]} == metrics["per_class"]
    assert metrics["per_class"]["run"] == pytest.approx(1.0) and metrics["per_class"]["jump"] == pytest.approx(0.4)
    assert [[c["text"] for c in r] for r in page.tables["missed"]] == [["v1", str(f), "1", "1"] for f in range(5, 11)]


# ------------------------------------------------------------------ woo compare
def write_metrics(path, per_class, **figures):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**figures, "per_class": per_class}))
    return str(path)


def test_compare_shows_sorted_differences(tmp_path, capsys):
    a = write_metrics(tmp_path / "a" / "metrics.json", {"stand": 0.5, "walk": 0.25, "carry": 0.75, "swim": None},
                      **{"frame_mAP@0.5": 0.5, "frame_mAP@0.5_pyslowfast": 0.49})
    b = write_metrics(tmp_path / "b.json", {"walk": 0.5, "stand": 0.375, "carry": 0.875, "swim": None},
                      **{"frame_mAP@0.5": 0.583, "frame_mAP@0.5_pyslowfast": 0.58})
    report = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a"), b, "--report", str(report)]) == 0  # a run's folder, or its file
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"A: {a}", f"B: {b}"]
    classes = [line.split()[0] for line in out if line.split()[0] in ("stand", "walk", "carry", "swim")]
    assert classes == ["walk", "carry", "stand", "swim"]  # largest gain first; no AP last
    assert next(line for line in out if line.startswith("walk")).split() == ["walk", "0.2500", "0.5000", "+0.2500"]
    assert next(line for line in out if line.startswith("frame_mAP@0.5 ")).split()[1:] == ["0.5000", "0.5830"]

    page = Page(report / "index.html")
    assert_images_are_pngs(page, report)
    rows = {r[0]["text"]: [value(c) for c in r[1:]] for r in page.tables["per-class"]}
    assert list(rows) == ["walk", "carry", "stand", "swim"]
    assert rows["walk"] == [0.25, 0.5, 0.25] and rows["stand"] == [0.5, 0.375, -0.125]
    assert rows["carry"] == [0.75, 0.875, pytest.approx(0.125)] and rows["swim"] == [None, None, None]
    figures = {r[0]["text"]: [value(c) for c in r[1:]] for r in page.tables["figures"]}
    assert figures["frame-mAP@0.5, official protocol"] == [0.5, 0.583, pytest.approx(0.083)]


def test_compare_three_runs_against_the_first(tmp_path, capsys):
    runs = [write_metrics(tmp_path / f"{n}.json", {"x": ap, "y": 0.5}, **{"frame_mAP@0.5": ap})
            for n, ap in (("a", 0.2), ("b", 0.4), ("c", 0.1))]
    assert main(["compare", *runs, "--report", str(tmp_path / "cmp")]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("class"))
    assert header.split() == ["class", "A", "B", "C", "B-A", "C-A"]
    page = Page(tmp_path / "cmp" / "index.html")
    assert sorted(page.images) == ["ap_difference_B.png", "ap_difference_C.png"]
    assert_images_are_pngs(page, tmp_path / "cmp")
    rows = {r[0]["text"]: [value(c) for c in r[1:]] for r in page.tables["per-class"]}
    assert rows["x"] == [0.2, 0.4, 0.1, pytest.approx(0.2), pytest.approx(-0.1)]


def test_compare_errors_are_one_line_exit_1(tmp_path, capsys):
    good = write_metrics(tmp_path / "good.json", {"x": 0.5})
    no_per_class = tmp_path / "bare.json"
    no_per_class.write_text(json.dumps({"frame_mAP@0.5": 0.5}))
    other = write_metrics(tmp_path / "other.json", {"x": 0.5, "z": 0.1})
    broken = tmp_path / "broken.json"
    broken.write_text('{"per_class": ')
    (tmp_path / "empty_run").mkdir()
    cases = [
        ([good, str(tmp_path / "missing")], f"woo compare: error: {tmp_path / 'missing'}: no such file or folder"),
        ([good, str(tmp_path / "empty_run")], f"woo compare: error: {tmp_path / 'empty_run'} has no metrics.json"),
        ([good, str(no_per_class)], f"woo compare: error: {no_per_class} has no per_class AP"),
        ([good, other], f"woo compare: error: {other} and {good} evaluate different classes: "
                        f"1 only in {other} (e.g. 'z')"),
        ([good, str(broken)], f"woo compare: error: {broken}:1: not JSON"),
    ]
    for argv, expected in cases:
        assert main(["compare", *argv, "--report", str(tmp_path / "never")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(expected), err
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------------------ the demo page
@pytest.fixture(scope="module")
def demo_out(trained, tmp_path_factory):
    """``woo demo`` on the first 3 s of synthetic val000 (a folder of frames)."""
    frames = tmp_path_factory.mktemp("frames")
    for name in sorted(os.listdir(trained["frames_dir"]))[:90]:
        shutil.copy(os.path.join(trained["frames_dir"], name), frames)
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--config-file", INSTANT, "--input", str(frames), "--fps", "30", "--output", str(out),
                 "--score-thresh", "0.2", "MODEL.WEIGHTS", trained["weights"]]) == 0
    return out


def test_demo_page_embeds_the_tracks_and_plays_the_video(demo_out):
    page = Page(demo_out / "index.html")
    doc = json.loads((demo_out / "tracks.json").read_text())
    assert json.loads(page.scripts["tracks-data"]) == doc  # the timeline is drawn from these
    assert page.links.count("annotated.mp4") == 1 and (demo_out / "annotated.mp4").is_file()
    assert not [link for link in page.links if link not in ("annotated.mp4", "#")]  # nothing from elsewhere
    rows = page.tables["tracks"]
    assert [r[0]["text"] for r in rows] == [f"#{t['id']}" for t in sorted(doc["tracks"], key=lambda t: t["id"])]
    segments = [s for t in sorted(doc["tracks"], key=lambda t: t["id"]) for s in t["segments"]]
    assert segments, "with --score-thresh 0.2 WOO_Instant's tracks have action segments"
    assert [s for r in rows for s in r[4].get("starts", [])] == [s["start"] for s in segments]
    shown = [r[4]["text"] for r in rows if r[4].get("starts")]
    assert all(f"{s['label']} {s['start']:.1f}" in " ".join(shown) for s in segments)
