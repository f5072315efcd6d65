"""JHMDB-21 / UCF101-24 data: ACT pickles, key-frame records, catalog names, synthetic set."""
import filecmp
import os
import pickle

import cv2
import numpy as np
import pytest

from woo.cli import main as woo_main
from woo.data.catalog import get_split, list_splits, load_dataset_dicts
from woo.data.synthetic_jhmdb import JHMDBSyntheticConfig, generate_jhmdb
from woo.data.tube_dataset import TubeSplit, load_tube_records
from woo.formats.act_groundtruth import read_act_groundtruth

HEIGHT, WIDTH = 24, 32


def _tube(first, last, x=4.0):
    return np.array([[f, x, 2, x + 9, 15] for f in range(first, last + 1)], dtype=np.float32)


def _groundtruth():
    return {
        "labels": ["brush_hair", "catch"],
        "gttubes": {"a": {0: [_tube(1, 6)]}, "b": {1: [_tube(3, 5), _tube(2, 4, x=20)]}, "c": {0: [_tube(1, 8)]}},
        "nframes": {"a": 6, "b": 7, "c": 8},
        "train_videos": [["a", "b"], ["c"]],
        "test_videos": [["c"], ["a", "b"]],
        "resolution": {"a": (HEIGHT, WIDTH), "b": (HEIGHT, WIDTH), "c": (HEIGHT, WIDTH)},
    }


def _write(root, data, frame_size=(HEIGHT, WIDTH), protocol=2):
    """An ACT-layout dataset: the pickle (protocol 2, as the Python 2 originals) and PNG frames."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "JHMDB-GT.pkl")
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    for video, count in data["nframes"].items():
        os.makedirs(os.path.join(root, "Frames", video), exist_ok=True)
        for i in range(1, count + 1):
            cv2.imwrite(os.path.join(root, "Frames", video, f"{i:05d}.png"), np.full((*frame_size, 3), i, np.uint8))
    return path


def _split(root, subset, split=1, stride=1):
    return TubeSplit(name=f"t_{subset}", groundtruth=os.path.join(root, "JHMDB-GT.pkl"),
                     frames_dir=os.path.join(root, "Frames"), frame_pattern="{:05d}.png",
                     subset=subset, split=split, frame_stride=stride)


def test_training_records_are_the_annotated_frames(tmp_path):
    _write(str(tmp_path), _groundtruth())
    records = load_tube_records(_split(str(tmp_path), "train"))
    assert [(r["video_id"], r["timestamp"]) for r in records] == [("a", f) for f in range(1, 7)] + [
        ("b", f) for f in range(2, 6)]
    b3 = records[7]
    assert (b3["video_id"], b3["timestamp"], b3["key_frame_index"]) == ("b", 3, 2)
    assert b3["frame_paths"][2].endswith(os.path.join("Frames", "b", "00003.png"))
    np.testing.assert_allclose(b3["boxes"], [[4 / WIDTH, 2 / HEIGHT, 13 / WIDTH, 15 / HEIGHT],
                                             [20 / WIDTH, 2 / HEIGHT, 29 / WIDTH, 15 / HEIGHT]], rtol=1e-6)
    np.testing.assert_array_equal(b3["actions"], [[0, 1], [0, 1]])  # one-hot
    assert b3["boxes"].dtype == np.float32 and (b3["height"], b3["width"]) == (HEIGHT, WIDTH)


def test_test_records_cover_every_frame_or_every_kth(tmp_path):
    _write(str(tmp_path), _groundtruth())
    every = load_tube_records(_split(str(tmp_path), "test", split=2))
    assert [(r["video_id"], r["timestamp"]) for r in every] == [("a", f) for f in range(1, 7)] + [
        ("b", f) for f in range(1, 8)]
    assert len(every[6]["boxes"]) == 0  # b, frame 1: nobody annotated, still tested
    third = load_tube_records(_split(str(tmp_path), "test", split=2, stride=3))
    assert [(r["video_id"], r["timestamp"]) for r in third] == [("a", 1), ("a", 4), ("b", 1), ("b", 4), ("b", 7)]


def test_records_go_through_the_clip_mapper(tmp_path):
    from woo.data.mapper import ClipMapper

    _write(str(tmp_path), _groundtruth())
    record = load_tube_records(_split(str(tmp_path), "train"))[7]
    out = ClipMapper(False, num_frames=4, sampling_rate=1, min_size=(HEIGHT,), max_size=64)(record)
    assert out["clip"].shape == (3, 4, HEIGHT, WIDTH)
    # The clip is centred on frame 3 of b: frames 1..4 (pixel value = frame number).
    assert out["clip"][0, :, 0, 0].tolist() == [1, 2, 3, 4]
    assert out["gt_actions"].tolist() == [[0, 1], [0, 1]]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("resolution"), r"missing keys \['resolution'\]"),
        (lambda d: d["gttubes"]["a"].update({0: [np.zeros((3, 4))]}), r"gttubes\['a'\]\[0\]\[0\] must be an array \(n >= 1, 5\)"),
        (lambda d: d["gttubes"]["a"].update({5: [_tube(1, 2)]}), r"gttubes\['a'\] has label 5"),
        (lambda d: d["gttubes"]["a"].update({0: [_tube(0, 2)]}), r"gttubes\['a'\]\[0\]\[0\] has frames that are not integers >= 1"),
        (lambda d: d["gttubes"]["a"].update({0: [np.delete(_tube(1, 4), 1, axis=0)]}), r"\[0\]\[0\] frames are not consecutive"),
        (lambda d: d["nframes"].pop("c"), r"video 'c' of train_videos\[1\] has no entry in 'nframes'"),
        (lambda d: d["resolution"].update({"a": (24,)}), r"resolution\['a'\] must be \(height, width\)"),
    ],
)
def test_malformed_pickles_name_file_and_key(tmp_path, change, message):
    data = _groundtruth()
    change(data)
    path = _write(str(tmp_path), data)
    with pytest.raises(ValueError, match=message) as info:
        read_act_groundtruth(path)
    assert path in str(info.value)


def test_tube_frames_past_the_video_are_kept_and_reported(tmp_path, caplog):
    data = _groundtruth()
    data["gttubes"]["a"][0] = [_tube(4, 9)]  # the video has 6 frames
    root = str(tmp_path)
    path = _write(root, data)
    assert len(read_act_groundtruth(path).gttubes["a"][0][0]) == 6  # kept for evaluation, as ACT keeps them
    assert "gttubes['a'][0][0] has frames up to 9, past the video's 6 frames" in caplog.text
    records = load_tube_records(_split(root, "train"))
    assert [r["timestamp"] for r in records if r["video_id"] == "a"] == [4, 5, 6]
    assert "annotated frames past the video's last frame: 3" in caplog.text


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = str(tmp_path / "evil.pkl")
    with open(path, "wb") as f:
        pickle.dump({"labels": Evil()}, f)
    with pytest.raises(ValueError, match=r"evil.pkl: not a readable ground-truth pickle .*system is not allowed"):
        read_act_groundtruth(path)


def test_missing_frames_and_wrong_sizes_are_named(tmp_path):
    root = str(tmp_path)
    _write(root, _groundtruth())
    os.remove(os.path.join(root, "Frames", "b", "00007.png"))
    with pytest.raises(FileNotFoundError, match=r"video 'b' has 7 frames .* frame .*00007.png is missing"):
        load_tube_records(_split(root, "train"))
    _write(root, _groundtruth(), frame_size=(HEIGHT, WIDTH + 2))
    with pytest.raises(ValueError, match=r"00001.png is 24x34 \(HxW\) but .*JHMDB-GT.pkl gives resolution 24x32"):
        load_tube_records(_split(root, "train"))


def test_catalog_names_and_layout(woo_datasets, monkeypatch, tmp_path):
    names = set(list_splits())
    for split in (1, 2, 3):
        assert {f"jhmdb21_split{split}_train", f"jhmdb21_split{split}_test",
                f"jhmdb21_split{split}_test_every8"} <= names
    assert {"ucf24_train", "ucf24_test", "ucf24_test_every8", "woo_synthetic_jhmdb_train"} <= names
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    ucf = get_split("ucf24_test_every8")
    assert ucf.groundtruth == os.path.join(str(tmp_path), "ucf24", "UCF101v2-GT.pkl")
    assert (ucf.frame_pattern, ucf.frame_stride, ucf.subset) == ("{:05d}.jpg", 8, "test")
    with pytest.raises(FileNotFoundError, match=r"jhmdb21_split2_train: ground-truth pickle not found: .*JHMDB-GT.pkl"):
        load_dataset_dicts("jhmdb21_split2_train")
    _write(os.path.join(str(tmp_path), "jhmdb"), _groundtruth())
    records = load_dataset_dicts("jhmdb21_split2_train")
    assert {r["video_id"] for r in records} == {"c"}


def test_synth_jhmdb_is_reproducible_and_readable(tmp_path):
    outs = [str(tmp_path / f"s{i}") for i in range(2)]
    for out in outs:
        assert woo_main(["synth", "--format", "jhmdb", "--out", out, "--videos", "3", "--seed", "5"]) == 0
    comparison = filecmp.dircmp(*outs)
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    for sub in comparison.subdirs.values():
        assert not sub.diff_files
    with open(os.path.join(outs[0], "woo_synthetic_jhmdb-GT.pkl"), "rb") as f:
        first = f.read()
    with open(os.path.join(outs[1], "woo_synthetic_jhmdb-GT.pkl"), "rb") as f:
        assert f.read() == first
    gt = read_act_groundtruth(os.path.join(outs[0], "woo_synthetic_jhmdb-GT.pkl"))
    assert gt.labels == ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
    assert gt.train_videos == [["train000", "train001", "train002"]] and gt.test_videos == [["test000"]]
    assert all(len(per) == 1 and len(list(per.values())[0]) == 1 for per in gt.gttubes.values())  # one actor, one label
    image = cv2.imread(os.path.join(outs[0], "Frames", "train000", "00032.png"))
    assert image.shape == (120, 160, 3)
    # The box lies on the drawn actor: the body colour differs from the frame's corner.
    (tube,) = gt.gttubes["train000"][0]
    x1, y1, x2, y2 = tube[-1, 1:5].astype(int)
    assert 0 <= x1 < x2 <= 159 and 0 <= y1 < y2 <= 119
    assert woo_main(["synth", "--format", "jhmdb", "--out", outs[0]]) == 1  # exists, no --force


def test_synth_jhmdb_scenes_tell_nothing_but_the_action(tmp_path):
    out = str(tmp_path / "s")
    generate_jhmdb(out, JHMDBSyntheticConfig(train_videos=12, test_videos=1))
    gt = read_act_groundtruth(os.path.join(out, "woo_synthetic_jhmdb-GT.pkl"))
    first = {v: cv2.imread(os.path.join(out, "Frames", v, "00001.png")) for v in gt.train_videos[0]}
    for scene in (0, 6):
        videos = [f"train{scene + label:03d}" for label in range(6)]
        assert [list(gt.gttubes[v]) for v in videos] == [[label] for label in range(6)]  # one scene, six actions
        actor = np.zeros((120, 160), bool)  # where any of the six actors is, with the antialiased edge
        for v in videos:
            x1, y1, x2, y2 = gt.gttubes[v][int(v[-3:]) % 6][0][0, 1:5].astype(int)
            actor[max(y1 - 2, 0):y2 + 3, max(x1 - 2, 0):x2 + 3] = True
        for v in videos[1:]:  # the same background and distractors
            np.testing.assert_array_equal(first[v][~actor], first[videos[0]][~actor])
        # the same actor: stand and walk look the same on the first frame
        np.testing.assert_array_equal(first[videos[0]], first[videos[1]])
    assert (first["train000"] != first["train006"]).mean() > 0.5  # another scene


def test_d2_registers_the_splits_with_tube_metadata(woo_datasets):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    import woo.d2  # noqa: F401

    assert "jhmdb21_split3_test_every8" in DatasetCatalog.list()
    meta = MetadataCatalog.get("woo_synthetic_jhmdb_test")
    assert meta.evaluator_type == "tube"
    assert meta.action_classes == ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
    assert meta.num_actions == 6 and meta.groundtruth.endswith("woo_synthetic_jhmdb-GT.pkl")
    assert MetadataCatalog.get("woo_synthetic_val").evaluator_type == "ava"
