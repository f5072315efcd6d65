"""`woo prepare` on videos it encodes: CSV and CVAT annotations, then training and evaluating
WOO_Instant on `dataset.yaml:train` / `dataset.yaml:val` with `woo train` and train_net.py."""
import importlib.util
import json
import os

import numpy as np
import pytest
import yaml

from woo.cli import main as woo

av = pytest.importorskip("av")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
FPS_IN, SECONDS, WIDTH, HEIGHT = 25, 7, 64, 48
LABELS = [(1, "walk"), (2, "wave"), (5, "sit")]  # any ids: the action columns are 1..5
BOX = (0.1, 0.2, 0.4, 0.9)


def _encode(path, shift):
    """An H.264 mp4 at 25 FPS, SECONDS long: a red box moving over a grey that brightens frame by frame
    (so that each frame is told apart)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS_IN)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(SECONDS * FPS_IN):
            image = np.full((HEIGHT, WIDTH, 3), 40 + i, np.uint8)
            x = (2 * i + shift) % (WIDTH - 12)
            image[10:40, x:x + 12] = (200, 60, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _rows(video, seconds):
    """Rows in seconds from the video's start, 2 s apart, two people on some key frames."""
    rows = []
    for second in seconds:
        rows.append(f"{video},{second},{','.join(map(str, BOX))},{1 + (second // 2) % 2},0")
        if second % 4 == 0:
            rows.append(f"{video},{second},0.5,0.1,0.8,0.7,5,1")
            rows.append(f"{video},{second},0.5,0.1,0.8,0.7,1,1")
    return rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    videos = tmp / "videos"
    videos.mkdir()
    for k in range(3):
        _encode(videos / f"clip{k}.mp4", 9 * k)
    (tmp / "labels.pbtxt").write_text("".join(f'label {{\n  name: "{n}"\n  label_id: {i}\n}}\n' for i, n in LABELS))
    (tmp / "train.csv").write_text("\n".join(_rows("clip0", (0, 2, 4, 6)) + _rows("clip1", (0, 2, 4, 6))) + "\n")
    (tmp / "val.csv").write_text("\n".join(_rows("clip2", (0, 2, 4, 6))) + "\n")
    return tmp


def _prepare(files, out, *extra):
    return woo(["prepare", "--videos", str(files / "videos"), "--labels", str(files / "labels.pbtxt"),
                "--out", str(out), *extra])


@pytest.fixture(scope="module")
def prepared(files):
    out = files / "set"
    assert _prepare(files, out, "--annotations", str(files / "train.csv"), "--val", str(files / "val.csv")) == 0
    return out


def test_prepare_writes_frames_lists_and_description(prepared):
    with open(prepared / "dataset.yaml") as f:
        description = yaml.safe_load(f)
    assert description["fps"] == 30 and description["num_classes"] == 5
    assert description["splits"]["train"]["videos"] == 2 and description["splits"]["train"]["key_frames"] == 8
    assert description["splits"]["val"]["key_frame_seconds"] == [0, 6]
    assert description["splits"]["val"]["key_frame_spacing"] == 2
    clip = description["videos"]["clip0"]
    # 7 s at 25 FPS resampled by timestamp to 30 FPS: 210 frames
    assert clip["frames"] == 210 == len(os.listdir(prepared / "frames" / "clip0")) and clip["source_fps"] == 25
    from woo.formats.frame_list import read_frame_list

    lists = read_frame_list(str(prepared / "frame_lists" / "train.csv"))
    assert list(lists) == ["clip0", "clip1"] and lists["clip0"][0] == "clip0/clip0_000001.jpg"


def test_prepared_split_records_use_seconds_from_the_start(prepared):
    from woo.data.catalog import class_names, evaluator_type, get_split, load_dataset_dicts

    name = f"{prepared}/dataset.yaml:train"
    records = load_dataset_dicts(name)
    assert evaluator_type(name) == "ava" and get_split(name).first_second == 0
    assert len(records) == 8 and records.num_actions == 5
    record = records[1]  # clip0, second 2: frame 60 at 30 FPS
    assert (record["video_id"], record["timestamp"], record["key_frame_index"]) == ("clip0", 2, 60)
    assert (record["height"], record["width"]) == (HEIGHT, WIDTH)
    np.testing.assert_allclose(record["boxes"], [BOX], atol=1e-6)
    assert record["actions"].tolist() == [[0, 1, 0, 0, 0]]
    first = records[0]  # second 0: two people, the second one with actions 1 and 5
    assert first["actions"].tolist() == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 1]]
    assert class_names(name, 5) == ["walk", "wave", "action 3", "action 4", "sit"]
    with pytest.raises(KeyError, match="has no split 'test'"):
        get_split(f"{prepared}/dataset.yaml:test")


def test_the_frame_of_a_key_second_is_the_one_shown_at_that_time(prepared):
    """Second 4 of the 25 FPS source is its frame 100; the 30 FPS frame 120 must show it."""
    import cv2

    with av.open(str(prepared.parent / "videos" / "clip1.mp4")) as container:
        source = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    written = cv2.cvtColor(cv2.imread(str(prepared / "frames" / "clip1" / "clip1_000121.jpg")), cv2.COLOR_BGR2RGB)
    errors = [np.abs(written.astype(int) - frame.astype(int)).mean() for frame in source]
    assert int(np.argmin(errors)) == 100


def _train(out_dir, prepared, *extra):
    return woo(["train", "--config-file", INSTANT, "DATASETS.TRAIN", f'("{prepared}/dataset.yaml:train",)',
                "DATASETS.TEST", f'("{prepared}/dataset.yaml:val",)', "MODEL.WOO.NUM_ACTIONS", "5",
                "OUTPUT_DIR", str(out_dir), *extra])


def _final_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return json.load(f)


def test_woo_train_trains_and_evaluates_a_prepared_set(prepared, tmp_path):
    assert _train(tmp_path / "run", prepared) == 0
    metrics = _final_metrics(tmp_path / "run")
    # frame-mAP@0.5 of the AVA evaluator over the set's classes, with AP per class
    assert 0.0 <= metrics["frame_mAP@0.5"] <= 1.0
    # every class of the label map, and only those (ids 3 and 4 are no class)
    assert set(metrics["per_class"]) == {"walk", "wave", "sit"}
    assert all(ap is not None for ap in metrics["per_class"].values())


def test_fine_tuning_from_other_classes_drops_the_action_classifier(prepared, trained, tmp_path):
    out = tmp_path / "tuned"  # from the synthetic set's 6 classes to this set's 5
    assert woo(["train", "--config-file", INSTANT, "DATASETS.TRAIN", f'("{prepared}/dataset.yaml:train",)',
                "DATASETS.TEST", "()", "MODEL.WOO.NUM_ACTIONS", "5", "OUTPUT_DIR", str(out),
                "SOLVER.MAX_ITER", "1", "MODEL.WEIGHTS", trained["weights"]]) == 0
    log = (out / "log.txt").read_text()
    assert "action classifier has 6 classes and this model 5 (MODEL.WOO.NUM_ACTIONS): it is dropped" in log
    import torch

    tuned = torch.load(out / "model_final.pth", weights_only=True)["model"]
    source = torch.load(trained["weights"], weights_only=True)["model"]
    assert tuned["roi_heads.action_head.classifier.bias"].shape == (5,)
    # every other weight loaded (one iteration at a small rate moves them little)
    name = "roi_heads.action_head.spatial_embed.weight"
    if name in tuned:
        assert torch.allclose(tuned[name], source[name], atol=0.05)


def test_num_actions_must_match_the_label_map(prepared, tmp_path, capsys):
    assert _train(tmp_path / "run", prepared, "MODEL.WOO.NUM_ACTIONS", "6") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("woo train: error: MODEL.WOO.NUM_ACTIONS is 6, but dataset(s)")
    assert "set MODEL.WOO.NUM_ACTIONS 5" in err[-1]


def _cvat_xml(video, frames, *, source=True):
    """A CVAT for video 1.1 export: track 7 walks (checkbox) for 2 s, then waves (a select
    attribute); track 9 is outside after frame 100."""
    head = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "<version>1.1</version>", "<meta><task>",
            f"<size>{frames}</size>", "<mode>interpolation</mode>", "<start_frame>0</start_frame>",
            f"<original_size><width>{WIDTH}</width><height>{HEIGHT}</height></original_size>",
            f"<source>{video}.mp4</source>" if source else "", "</task></meta>"]
    body = ['<track id="7" label="person" source="manual">']
    for f in range(frames):
        walk, action = ("true", "none") if f < 50 else ("false", "wave")
        body.append(f'<box frame="{f}" keyframe="1" outside="0" occluded="0" xtl="6.4" ytl="9.6" xbr="25.6" '
                    f'ybr="43.2" z_order="0"><attribute name="walk">{walk}</attribute>'
                    f'<attribute name="action">{action}</attribute></box>')
    body += ["</track>", '<track id="9" label="sit" source="manual">']
    body += [f'<box frame="{f}" keyframe="1" outside="{int(f > 100)}" occluded="0" xtl="32" ytl="4.8" xbr="51.2" '
             f'ybr="33.6" z_order="0"></box>' for f in range(frames)]
    return "\n".join(head + body + ["</track>", "</annotations>"])


def test_cvat_export_becomes_key_frame_rows(files, tmp_path, capsys):
    xml = tmp_path / "clip1.xml"
    xml.write_text(_cvat_xml("clip1", SECONDS * FPS_IN))
    out = tmp_path / "set"
    assert _prepare(files, out, "--annotations", str(xml), "--spacing", "2") == 0
    # The summary counts one video in the singular.
    summary = capsys.readouterr().out.splitlines()[0]
    assert summary == f"woo prepare: wrote {out / 'dataset.yaml'} (train: 1 video, 4 key frames; 3 classes at 30 FPS)"
    rows = (out / "annotations" / "train.csv").read_text().splitlines()
    # key frames at 0, 2, 4, 6 s = frames 0, 50, 100, 150 of the 25 FPS video
    assert rows == ["clip1,0,0.1,0.2,0.4,0.9,1,7", "clip1,0,0.5,0.1,0.8,0.7,5,9",
                    "clip1,2,0.1,0.2,0.4,0.9,2,7", "clip1,2,0.5,0.1,0.8,0.7,5,9",
                    "clip1,4,0.1,0.2,0.4,0.9,2,7", "clip1,4,0.5,0.1,0.8,0.7,5,9",
                    "clip1,6,0.1,0.2,0.4,0.9,2,7"]


def test_train_on_a_cvat_export(files, tmp_path):
    xmls = []
    for video in ("clip0", "clip2"):
        xmls.append(tmp_path / f"{video}.xml")
        xmls[-1].write_text(_cvat_xml(video, SECONDS * FPS_IN))
    out = tmp_path / "set"
    assert _prepare(files, out, "--annotations", str(xmls[0]), "--val", str(xmls[1]), "--spacing", "2") == 0
    assert _train(tmp_path / "run", out) == 0
    assert "frame_mAP@0.5" in json.dumps(_final_metrics(tmp_path / "run"))


def test_train_net_trains_and_evaluates_a_prepared_set(prepared, tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.engine import default_argument_parser

    spec = importlib.util.spec_from_file_location("woo_train_net",
                                                  os.path.join(REPO, "projects", "WOO", "train_net.py"))
    train_net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_net)
    train, val = f"{prepared}/dataset.yaml:train", f"{prepared}/dataset.yaml:val"
    args = default_argument_parser().parse_args(
        ["--config-file", INSTANT, "DATASETS.TRAIN", f'("{train}",)', "DATASETS.TEST", f'("{val}",)',
         "MODEL.WOO.NUM_ACTIONS", "5", "OUTPUT_DIR", str(tmp_path / "d2")])
    train_net.main(args)
    # detectron2's EvalHook wrote the final evaluation to metrics.json: frame-mAP and AP per class
    events = [json.loads(line) for line in (tmp_path / "d2" / "metrics.json").read_text().splitlines()]
    final = [e for e in events if "frame_mAP/frame_mAP@0.5" in e][-1]
    assert {"frame_mAP/AP-walk", "frame_mAP/AP-wave", "frame_mAP/AP-sit"} <= set(final)
    assert val in DatasetCatalog.list() and MetadataCatalog.get(val).evaluator_type == "ava"
    assert MetadataCatalog.get(val).action_classes[4] == "sit"


@pytest.mark.parametrize("csv_text, message", [
    ("clip9,2,0.1,0.2,0.4,0.9,1,0\n", "train.csv:2: video 'clip9' is not in --videos"),
    ("clip0,20,0.1,0.2,0.4,0.9,1,0\n", "train.csv:2: second 20 is past the end of video 'clip0' (7 s, 210 frames"),
    ("clip0,2,0.1,0.2,0.4,0.9,3,0\n", "train.csv:2: action_id 3 is not in the label map"),
    ("clip0,2.5,0.1,0.2,0.4,0.9,1,0\n", "train.csv:2: second 2.5 must be a whole number"),
    ("clip0,2,0.1,0.2,0.4\n", "train.csv:2: expected 'video_id,seconds,x1,y1,x2,y2,action_id[,person_id]'"),
    ("clip0,2,0.1,zero,0.4,0.9,1,0\n", "train.csv:2: y1 'zero' is not a number"),
])
def test_bad_rows_are_one_error_line_naming_file_and_line(files, tmp_path, capsys, csv_text, message):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("clip0,0,0.1,0.2,0.4,0.9,1,0\n" + csv_text)
    assert _prepare(files, tmp_path / "set", "--annotations", str(csv_path)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("woo prepare: error: ") and message in err[-1], err
    assert not (tmp_path / "set").exists()


def test_a_video_that_does_not_decode_is_named(files, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00 ftypisom" + bytes(200))
    (tmp_path / "a.csv").write_text("broken,0,0.1,0.2,0.4,0.9,1,0\n")
    assert woo(["prepare", "--videos", str(videos), "--annotations", str(tmp_path / "a.csv"), "--labels",
                str(files / "labels.pbtxt"), "--out", str(tmp_path / "set")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("woo prepare: error: ") and "broken.mp4" in err[-1]
    assert not (tmp_path / "set").exists()


def test_an_existing_output_needs_force(prepared, files, capsys):
    assert _prepare(files, prepared, "--annotations", str(files / "train.csv")) == 1
    assert "exists (use --force to replace it)" in capsys.readouterr().err


def test_check_data_checks_a_prepared_set(prepared, capsys):
    assert woo(["check-data", "--config-file", INSTANT, "--sample", "0", "DATASETS.TRAIN",
                f'("{prepared}/dataset.yaml:train",)', "DATASETS.TEST", f'("{prepared}/dataset.yaml:val",)']) == 0
    out = capsys.readouterr().out
    assert f"{prepared}/dataset.yaml:train: 2 videos, 8 key frames, 12 boxes" in out
    assert "frames per video: 210 (2 videos)" in out and "2 split(s) checked: no problem found" in out
