"""datasets/build_frame_lists.py writes frame lists the AVA reader accepts."""
import importlib.util
import os
import subprocess
import sys

import pytest

from woo.formats.ava_annotations import read_frame_list

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "datasets", "build_frame_lists.py")


def _script():
    spec = importlib.util.spec_from_file_location("build_frame_lists", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frame_lists_from_extracted_frames(tmp_path, capsys):
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    for video, count in (("-5KQ66BBWC4", 3), ("b_x", 2)):
        (root / "frames" / video).mkdir(parents=True)
        for i in range(count, 0, -1):
            (root / "frames" / video / f"{video}_{i:06d}.jpg").write_bytes(b"")
    (root / "annotations" / "ava_train_v2.2.csv").write_text(
        "-5KQ66BBWC4,0902,0.1,0.1,0.2,0.2,1,0\n-5KQ66BBWC4,0903,0.1,0.1,0.2,0.2,1,0\nnoframes,0902,0,0,1,1,1,0\n"
    )
    (root / "annotations" / "ava_val_v2.2.csv").write_text("b_x,0902,0.1,0.1,0.2,0.2,1,0\n")
    assert _script().main(["--root", str(root)]) == 0
    train = read_frame_list(str(root / "frame_lists" / "train.csv"))
    assert train == {"-5KQ66BBWC4": [f"-5KQ66BBWC4/-5KQ66BBWC4_{i:06d}.jpg" for i in (1, 2, 3)]}
    assert read_frame_list(str(root / "frame_lists" / "val.csv")) == {"b_x": ["b_x/b_x_000001.jpg", "b_x/b_x_000002.jpg"]}
    assert "1 videos without a frame folder" in capsys.readouterr().err


def test_empty_and_missing_frame_folders_are_named_and_left_out(tmp_path, capsys):
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    (root / "frames" / "full").mkdir(parents=True)
    (root / "frames" / "full" / "full_000001.jpg").write_bytes(b"")
    (root / "frames" / "empty").mkdir()
    (root / "frames" / "wrongnames").mkdir()
    (root / "frames" / "wrongnames" / "frame_1.png").write_bytes(b"")
    rows = "".join(f"{v},0902,0.1,0.1,0.2,0.2,1,0\n" for v in ("full", "empty", "wrongnames", "gone"))
    (root / "annotations" / "ava_train_v2.2.csv").write_text(rows)
    (root / "annotations" / "ava_val_v2.2.csv").write_text("empty,0902,0.1,0.1,0.2,0.2,1,0\n")
    assert _script().main(["--root", str(root)]) == 1  # val is left with no video
    out, err = capsys.readouterr()
    assert "train.csv: 1 of the 4 videos" in out
    assert "1 videos without a frame folder" in err and "gone" in err
    assert "2 frame folders without <video>_%06d.jpg frames" in err
    assert str(root / "frames" / "empty") in err and str(root / "frames" / "wrongnames") in err
    assert "no video of" in err and "ava_val_v2.2.csv" in err
    assert read_frame_list(str(root / "frame_lists" / "train.csv")) == {"full": ["full/full_000001.jpg"]}


def test_runs_from_any_directory_with_the_documented_default_root(tmp_path):
    datasets = tmp_path / "data"
    (datasets / "ava" / "annotations").mkdir(parents=True)
    (datasets / "ava" / "frames" / "v").mkdir(parents=True)
    (datasets / "ava" / "frames" / "v" / "v_000001.jpg").write_bytes(b"")
    for subset in ("train", "val"):
        (datasets / "ava" / "annotations" / f"ava_{subset}_v2.1.csv").write_text("v,0902,0.1,0.1,0.2,0.2,1,0\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "WOO_DATASETS": str(datasets)}
    done = subprocess.run([sys.executable, os.path.abspath(_SCRIPT), "--version", "v2.1"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (datasets / "ava" / "frame_lists" / "val.csv").is_file()
    # A missing annotation file is one line naming it.
    (datasets / "ava" / "annotations" / "ava_val_v2.1.csv").unlink()
    done = subprocess.run([sys.executable, os.path.abspath(_SCRIPT), "--version", "v2.1"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "ava_val_v2.1.csv" in done.stderr


def test_gap_in_frame_numbers_is_an_error(tmp_path):
    (tmp_path / "v").mkdir()
    for i in (1, 3):
        (tmp_path / "v" / f"v_{i:06d}.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="without gaps"):
        _script().video_frames(str(tmp_path), "v")
