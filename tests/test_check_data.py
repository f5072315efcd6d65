"""`woo check-data`: a clean synthetic set passes; a missing, an undecodable frame and a video with
the wrong frame count are each reported by name, with exit code 1."""
import os
import shutil

import pytest

from woo.cli import main
from woo.data.catalog import get_split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")


def _check(capsys, *args):
    code = main(["check-data", "--config-file", INSTANT, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def broken(woo_datasets, tmp_path, monkeypatch):
    """A copy of the synthetic set to break, as $WOO_DATASETS."""
    get_split("woo_synthetic_train")  # generated in the session's root if missing
    shutil.copytree(os.path.join(woo_datasets, "woo_synthetic"), tmp_path / "woo_synthetic")
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path))
    return tmp_path / "woo_synthetic"


def test_a_clean_synthetic_set_passes(woo_datasets, capsys):
    code, out, err = _check(capsys, "--sample", "0")
    assert code == 0, out + err
    assert "woo_synthetic_train: 24 videos, 190 key frames" in out and "woo_synthetic_val: 8 videos" in out
    assert "frames per video: 300 (24 videos)" in out and "frame sizes (HxW): 120x160 (24 videos)" in out
    assert "rarest actions (boxes): " in out and "raise arm (" in out
    assert out.count("no problem found") == 3  # two splits, and the total


def test_a_clean_synthetic_set_in_the_jhmdb_layout_passes(woo_datasets, capsys):
    config = os.path.join(REPO, "configs", "Synthetic", "WOO_Tiny_JHMDB.yaml")
    code = main(["check-data", "--config-file", config, "--sample", "50"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "woo_synthetic_jhmdb_train: 36 videos" in out and "woo_synthetic_jhmdb_test: 18 videos" in out
    assert "frames per video: 32 (36 videos)" in out


def test_missing_undecodable_and_short_videos_are_named(broken, capsys):
    frames = broken / "frames"
    os.remove(frames / "train000" / "train000_000061.jpg")  # train000's key frame of second 902
    (frames / "train001" / "train001_000061.jpg").write_bytes(b"not a JPEG")
    # train002 extracted one second short: 270 frames, on disk and in the frame list.
    for i in range(271, 301):
        os.remove(frames / "train002" / f"train002_{i:06d}.jpg")
    frame_list = broken / "frame_lists" / "train.csv"
    rows = frame_list.read_text().splitlines(keepends=True)
    frame_list.write_text("".join(r for r in rows if not (r.startswith("train002 ") and int(r.split()[2]) >= 270)))
    code, out, err = _check(capsys, "--sample", "0")
    assert code == 1 and "Traceback" not in err
    missing = frames / "train000" / "train000_000061.jpg"
    assert f"video train000: 1 of its 300 listed frames are not in {frames / 'train000'}, e.g. train000_000061.jpg" \
        in out
    assert f"video train000: missing frame {missing}" in out
    assert f"video train001: cannot decode frame {frames / 'train001' / 'train001_000061.jpg'}" in out
    assert "video train002: 270 frames listed, 300 expected (10 s at 30 FPS): 27.00 frames per second" in out
    # Its last key frame (second 909, frame 270) is past its frames now, and left out.
    assert "video train002: 1 annotated key frame(s) past the video's last frame (909), left out" in out
    assert "woo_synthetic_val: 8 videos" in out
    val = out[out.index("woo_synthetic_val:"):]
    assert "no problem found" in val.splitlines()[5]


def test_a_sample_decodes_fewer_frames_and_bad_arguments_are_usage_errors(woo_datasets, capsys):
    import re

    _, everything, _ = _check(capsys, "--sample", "0")
    _, sampled, _ = _check(capsys, "--sample", "5")
    full, some = (int(re.search(r"woo_synthetic_train: .*?decoded: (\d+)", text, re.S).group(1))
                  for text in (everything, sampled))
    # 5 drawn at random, besides the first and last clip frame of each of the 24 videos.
    assert 48 <= some <= 53 < full
    code, _, err = _check(capsys, "--sample", "-1")
    assert code == 2 and "woo check-data: error: --sample must be >= 0" in err


def test_unknown_dataset_and_missing_files_are_problems_not_tracebacks(broken, capsys):
    code, out, err = _check(capsys, "DATASETS.TRAIN", '("ava_v9_train",)', "DATASETS.TEST", "()")
    assert code == 1 and "unknown dataset 'ava_v9_train'" in out and "Traceback" not in err
    code, out, err = _check(capsys, "DATASETS.TRAIN", '("ava_v2.2_train",)', "DATASETS.TEST", "()")
    assert code == 1 and "dataset 'ava_v2.2_train': frame list" in out and "datasets/README.md" in out
