"""The synthetic AVA-format dataset: deterministic, AVA layout, readable by the AVA reader."""
import dataclasses
import filecmp
import json
import os

import numpy as np
import pytest

from woo.cli import main as woo_main
from woo.data import synthetic
from woo.data.ava_dataset import load_ava_records
from woo.data.catalog import AVASplit
from woo.data.synthetic import ACTIONS, SyntheticConfig, generate, split_files
from woo.formats.ava_annotations import read_annotations, read_exclusions, read_frame_list
from woo.formats.label_map import read_labelmap

TINY = SyntheticConfig(seed=3, train_videos=3, val_videos=2, key_frames=4, width=64, height=48)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth") / "a")
    generate(out, TINY)
    return out


def test_same_seed_gives_byte_identical_output(tiny, tmp_path):
    again = str(tmp_path / "b")
    generate(again, TINY)
    files = _tree(tiny)
    assert files == _tree(again) and len(files) > 5 * 180
    match, mismatch, errors = filecmp.cmpfiles(tiny, again, files, shallow=False)
    assert not mismatch and not errors
    other = str(tmp_path / "c")
    generate(other, SyntheticConfig(**{**TINY.__dict__, "seed": 4}))
    name = split_files(tiny, "train")["annotations"]
    assert not filecmp.cmp(name, name.replace(tiny, other), shallow=False)


def test_layout_is_avas(tiny):
    for subset, videos in (("train", 3), ("val", 2)):
        files = split_files(tiny, subset)
        assert subset in os.path.basename(files["annotations"])
        frames = read_frame_list(files["frame_list"])
        assert len(frames) == videos
        for video_id, paths in frames.items():
            assert len(paths) == (4 + 2) * 30
            assert paths[0] == f"{video_id}/{video_id}_000001.jpg"
            assert all(os.path.isfile(os.path.join(files["frames_dir"], p)) for p in paths)
        with open(files["frame_list"]) as f:
            assert f.readline().strip() == "original_vido_id video_idx frame_id path labels"
        assert len(read_exclusions(files["exclusions"])) == 2
    categories, ids = read_labelmap(split_files(tiny, "train")["label_map"])
    assert [(c["id"], c["name"]) for c in categories] == ACTIONS and ids == {1, 2, 3, 4, 5, 6}


def test_reads_back_through_the_ava_reader(tiny):
    files = split_files(tiny, "train")
    records = load_ava_records(AVASplit(name="t", all_key_frames=True, **files))
    excluded = read_exclusions(files["exclusions"])
    keys = {(r["video_id"], r["timestamp"]) for r in records}
    assert len(records) == 3 * 4 - 2 and not keys & excluded
    assert all(902 <= t <= 905 for _, t in keys)
    boxes, stats = read_annotations(files["annotations"], class_ids={1, 2, 3, 4, 5, 6})
    assert not stats  # the generator writes no quirk
    by_key = {(r["video_id"], r["timestamp"]): r for r in records}
    for key, people in boxes.items():
        assert len(by_key[key]["boxes"]) == len(people)
    counts = [len(r["boxes"]) for r in records]
    assert 0 in counts and max(counts) >= 2  # empty key frames and crowded ones
    actions = np.concatenate([r["actions"] for r in records])
    # one motion class per actor; some actors also have appearance classes
    np.testing.assert_array_equal(actions[:, :3].sum(1), 1)
    assert (actions.sum(1) >= 2).any()
    assert all(r["height"] == 48 and r["width"] == 64 for r in records)
    assert all((0 <= r["boxes"]).all() and (r["boxes"] <= 1).all() for r in records)


def _actor(actions):
    return synthetic._Actor(
        person_id=0, actions=actions, color=(220, 40, 40), first_frame=0, end_frame=100,
        x0=60.0, foot0=90.0, body_w=14, body_h=30, velocity=1.5, amplitude=6.0, period=24.0, phase=0.0,
    )


def test_motion_classes_look_the_same_on_one_frame_and_differ_over_time():
    images = []
    for motion in (1, 2, 3):
        image = np.zeros((120, 160, 3), np.uint8)
        box = synthetic._draw_actor(image, _actor((motion,)), 60.0, 90.0)
        images.append((image, box))
    for image, box in images[1:]:
        np.testing.assert_array_equal(image, images[0][0])
        assert box == images[0][1]
    stand, walk, bob = (_actor((m,)) for m in (1, 2, 3))
    positions = {name: [synthetic._position(a, t, 160) for t in range(0, 33, 8)] for name, a in
                 (("stand", stand), ("walk", walk), ("bob", bob))}
    assert len(set(positions["stand"])) == 1
    assert len({x for x, _ in positions["walk"]}) == 5 and len({y for _, y in positions["walk"]}) == 1
    assert len({x for x, _ in positions["bob"]}) == 1 and np.ptp([y for _, y in positions["bob"]]) > 6


def test_motion_scale_scales_walking_and_bobbing_only():
    actors = {}
    for scale in (1.0, 1.5):
        rng = np.random.default_rng(3)
        cfg = synthetic.SyntheticConfig(motion_scale=scale)
        actors[scale] = [synthetic._new_actor(rng, cfg, 0, 0, [], actions=(m,)) for m in (2, 3)]
    for plain, strong in zip(actors[1.0], actors[1.5]):
        assert strong.velocity == pytest.approx(1.5 * plain.velocity)
        assert strong.amplitude == pytest.approx(1.5 * plain.amplitude)
        assert (strong.x0, strong.foot0, strong.body_w, strong.body_h, strong.period, strong.phase) == (
            plain.x0, plain.foot0, plain.body_w, plain.body_h, plain.period, plain.phase)
    # The default: walkers move 1.0 to 1.6 px per frame at 120 px height.
    assert synthetic.SyntheticConfig().motion_scale == 1.0 and 1.0 <= abs(actors[1.0][0].velocity) <= 1.6


def test_appearance_classes_change_the_key_frame():
    plain = np.zeros((120, 160, 3), np.uint8)
    plain_box = synthetic._draw_actor(plain, _actor((1,)), 60.0, 90.0)
    for extra in (4, 6):
        image = np.zeros_like(plain)
        box = synthetic._draw_actor(image, _actor((1, extra)), 60.0, 90.0)
        assert (image != plain).any() and box != plain_box


def test_walkers_bounce_inside_the_frame():
    assert synthetic._reflect(5.0, 0.0, 10.0) == 5.0
    assert synthetic._reflect(12.0, 0.0, 10.0) == 8.0
    assert synthetic._reflect(-3.0, 0.0, 10.0) == 3.0


def test_synth_command(tmp_path, capsys):
    out = str(tmp_path / "s")
    args = ["synth", "--out", out, "--videos", "3", "--key-frames", "2", "--width", "48", "--height", "32"]
    assert woo_main(args) == 0
    assert len(read_frame_list(split_files(out, "train")["frame_list"])) == 3
    assert len(read_frame_list(split_files(out, "val")["frame_list"])) == 1
    capsys.readouterr()
    assert woo_main(args) == 1
    assert capsys.readouterr().err == f"woo synth: error: {out} exists (use --force to replace it)\n"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left behind
    # A float parameter; the set records it.
    assert woo_main(["synth", "--out", str(tmp_path / "m"), "--videos", "3", "--key-frames", "2", "--width", "48",
                     "--height", "32", "--motion-scale", "1.5"]) == 0
    with open(tmp_path / "m" / "woo_synthetic.json") as f:
        assert json.load(f)["params"]["motion_scale"] == 1.5
    # A parameter of the other layout is a usage error.
    assert woo_main(["synth", "--format", "jhmdb", "--out", str(tmp_path / "j"), "--key-frames", "2"]) == 2
    assert "--key-frames does not apply to --format jhmdb" in capsys.readouterr().err


def test_non_default_dataset_is_used_and_logged(tmp_path, caplog):
    out = str(tmp_path / "woo_synthetic")
    generate(out, TINY)
    with caplog.at_level("INFO", logger="woo.data.synthetic"):
        assert synthetic.ensure_synthetic(out) == out
    assert "differs from the default synthetic dataset" in caplog.text
    assert len(read_frame_list(split_files(out, "train")["frame_list"])) == 3


def _tiny_set_with_params(tmp_path, edit):
    """A TINY set whose stored parameters file is rewritten as ``edit(stored)`` returns it;
    returns the set's folder and the parameters as written."""
    out = str(tmp_path / "woo_synthetic")
    generate(out, TINY)
    params = os.path.join(out, "woo_synthetic.json")
    with open(params) as f:
        stored = json.load(f)
    with open(params, "w") as f:
        json.dump(edit(stored), f)
    return out, stored


def test_a_set_written_before_a_parameter_existed_is_the_default(tmp_path, caplog):
    # As layout v1.1 wrote it before motion_scale came.
    out, _ = _tiny_set_with_params(tmp_path, lambda stored: {
        **stored, "params": {k: v for k, v in stored["params"].items() if k != "motion_scale"}})
    with caplog.at_level("INFO", logger="woo.data.synthetic"):
        assert synthetic.ensure_synthetic(out, TINY) == out
    assert "differs from the default" not in caplog.text
    with caplog.at_level("INFO", logger="woo.data.synthetic"):
        assert synthetic.ensure_synthetic(out, dataclasses.replace(TINY, motion_scale=1.5)) == out
    assert "differs from the default" in caplog.text


def test_a_set_of_another_layout_version_is_regenerated(tmp_path, caplog):
    out, stored = _tiny_set_with_params(tmp_path, lambda stored: {**stored, "version": "v0.9"})
    params = os.path.join(out, "woo_synthetic.json")
    os.remove(split_files(out, "val")["annotations"])
    with caplog.at_level("WARNING"):
        assert synthetic.ensure_synthetic(out, TINY) == out
    assert "layout version v0.9" in caplog.text and "regenerating" in caplog.text
    with open(params) as f:
        assert json.load(f) == stored
    assert os.path.isfile(split_files(out, "val")["annotations"])
    assert os.listdir(tmp_path) == ["woo_synthetic"]  # nothing left aside
