"""datasets/build_frame_lists.py writes frame lists the AVA reader accepts."""
import importlib.util
import os

import pytest

from woo.data.ava_annotations import read_frame_list

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
    assert "1 videos without frames: noframes" in capsys.readouterr().err


def test_gap_in_frame_numbers_is_an_error(tmp_path):
    (tmp_path / "v").mkdir()
    for i in (1, 3):
        (tmp_path / "v" / f"v_{i:06d}.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="without gaps"):
        _script().video_frames(str(tmp_path), "v")
