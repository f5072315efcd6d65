"""datasets/README.md followed as a new AVA user would: a video it encodes, frames
extracted with the README's own ffmpeg command (skipped where no ffmpeg binary is at hand),
frame lists from the README's command, then a 2-iteration `woo train` on
AVA v2.2 names with only v2.2 files present."""
import fractions
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from woo.cli import main

av = pytest.importorskip("av")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
WIDTH, HEIGHT, SECONDS = 64, 48, 4  # seconds 900..903 hold key frames 902 and 903


def _readme_block(containing: str) -> str:
    """The ```bash block of datasets/README.md that contains ``containing``."""
    with open(os.path.join(REPO, "datasets", "README.md"), encoding="utf-8") as f:
        text = f.read()
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if containing in b]
    assert len(blocks) == 1, containing
    return "\n".join(line.strip() for line in blocks[0].splitlines())


def _ffmpeg_bin_dir(tmp_path) -> str:
    """A folder with an ``ffmpeg`` executable: the system's, or imageio-ffmpeg's bundled one; "" if none."""
    found = shutil.which("ffmpeg")
    if found:
        return os.path.dirname(found)
    try:
        import imageio_ffmpeg
    except ImportError:
        return ""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), bin_dir / "ffmpeg")
    return str(bin_dir)


def _encode(path, shift: int) -> None:
    """An MPEG-4 video: one black frame at 0 s, then SECONDS seconds of a moving box from second 900 on."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 30)
        stream.codec_context.gop_size = 1

        def put(image, pts):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, fractions.Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)

        put(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 0)
        for i in range(SECONDS * 30):
            image = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
            x = (i + shift) % 40
            image[12:40, x:x + 12] = (200, 60, 60)
            put(image, 900 * 30 + i)
        for packet in stream.encode():
            container.mux(packet)


def _write_annotations(ann) -> None:
    ann.mkdir(parents=True)
    (ann / "ava_action_list_v2.2.pbtxt").write_text(
        "".join(f'label {{\n  name: "a{i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n' for i in (1, 12, 80))
    )
    (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(
        "".join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 12))
    )
    for subset in ("train", "val"):
        rows = [f"{subset}vid,{t},0.2,0.25,0.45,0.85,{a},0\n" for t in ("0902", "0903") for a in (12, 80)]
        (ann / f"ava_{subset}_v2.2.csv").write_text("".join(rows))
        (ann / f"ava_{subset}_excluded_timestamps_v2.2.csv").write_text("")


def test_from_an_ava_video_to_a_training_run(tmp_path, monkeypatch, capsys):
    datasets, videos = tmp_path / "datasets", tmp_path / "videos"
    _write_annotations(datasets / "ava" / "annotations")
    videos.mkdir()
    for shift, subset in enumerate(("train", "val")):
        _encode(videos / f"{subset}vid.mp4", shift * 7)
    ffmpeg_dir = _ffmpeg_bin_dir(tmp_path)
    if not ffmpeg_dir:
        pytest.skip("no ffmpeg binary (system or imageio-ffmpeg) to run the README's extraction command")
    env = {
        **os.environ,
        "WOO_DATASETS": str(datasets),
        "WOO_REPO": REPO,
        "AVA_VIDEOS": str(videos),
        "PATH": os.pathsep.join([ffmpeg_dir, os.path.dirname(sys.executable), os.environ["PATH"]]),
    }
    elsewhere = tmp_path / "elsewhere"  # the README's steps work from any directory
    elsewhere.mkdir()
    subprocess.run(["bash", "-euc", _readme_block("ffmpeg -nostdin")], cwd=elsewhere, env=env, check=True)
    for subset in ("train", "val"):
        frames = sorted(os.listdir(datasets / "ava" / "frames" / f"{subset}vid"))
        assert len(frames) >= SECONDS * 30 - 2 and frames[0] == f"{subset}vid_000001.jpg"

    built = subprocess.run(["bash", "-euc", _readme_block("build_frame_lists.py")], cwd=elsewhere, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "1 of the 1 videos of ava_train_v2.2.csv" in built.stdout

    monkeypatch.setenv("WOO_DATASETS", str(datasets))
    out = tmp_path / "run"
    ava = ["MODEL.WOO.NUM_ACTIONS", "80", "DATASETS.TRAIN", '("ava_v2.2_train",)',
           "DATASETS.TEST", '("ava_v2.2_val",)', "SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "(1,)"]
    assert main(["train", "--config-file", INSTANT, "OUTPUT_DIR", str(out), *ava]) == 0
    log = (out / "log.txt").read_text()
    # One iteration convention: iterations done, in the log, the evaluation and metrics.json.
    assert "iter 2/2 " in log and "at iteration 2:" in log
    assert json.loads((out / "metrics.json").read_text())["iteration"] == 2
    assert "MODEL.VIDEO_RESNET.PRETRAINED is empty" in log and "Kinetics" in log
    assert not [name for name in os.listdir(datasets / "ava" / "annotations") if "v2.1" in name]

    # A missing file: one line naming it and the README section that lists the files.
    missing = datasets / "ava" / "annotations" / "ava_val_excluded_timestamps_v2.2.csv"
    missing.unlink()
    capsys.readouterr()
    assert main(["train", "--config-file", INSTANT, "OUTPUT_DIR", str(tmp_path / "run2"), *ava]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "'Files each AVA version needs'" in err
