"""`woo demo` and `woo.VideoPredictor` end to end, with a WOO_Instant model trained here
(the ``trained`` fixture of conftest.py)."""
import csv
import json
import os
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

from woo.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
ACTIONS = ["stand", "walk", "bob", "carry", "crouch", "raise arm"]


def val_frames(trained, count):
    names = sorted(os.listdir(trained["frames_dir"]))[:count]
    return np.stack([cv2.imread(os.path.join(trained["frames_dir"], n))[:, :, ::-1] for n in names])


def encode(path, frames, fps, container_options=None, codec_options=None):
    import av

    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options=codec_options or {})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        out.mux(stream.encode(None))


def demo(trained, video, out, *extra, weights=None):
    return main(["demo", "--config-file", INSTANT, "--input", str(video), "--output", str(out), *extra,
                 "MODEL.WEIGHTS", weights or trained["weights"]])


def probe(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        return {"codec": s.codec_context.name, "rate": s.average_rate, "size": (s.width, s.height), "frames": frames}


@pytest.mark.parametrize("fps,count", [(25, 100), (Fraction(30000, 1001), 150)])
def test_demo_writes_every_output(trained, tmp_path, capsys, fps, count):
    video = tmp_path / "val000.mp4"
    encode(video, val_frames(trained, count), fps)
    out = tmp_path / "out"
    assert demo(trained, video, out, "--batch-size", "3") == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f"woo demo: wrote annotated.mp4, detections.csv, tracks.json, timeline.png, "
                              f"index.html to {out}")
    assert f"{count} frames" in summary and "video s per wall s" in summary
    assert sorted(os.listdir(out)) == ["annotated.mp4", "detections.csv", "index.html", "timeline.png", "tracks.json"]

    assert probe(out / "annotated.mp4") == {"codec": "h264", "rate": fps, "size": (160, 120), "frames": count}

    doc = json.loads((out / "tracks.json").read_text())
    seconds = count / float(fps)
    whole_seconds = list(range(int((count - 1) / float(fps)) + 1))  # key frames up to the last frame's time
    assert doc["class_names"] == ACTIONS and doc["fps"] == pytest.approx(float(fps))
    assert doc["duration"] == pytest.approx(seconds, abs=1e-3)
    assert doc["tracks"], "WOO_Instant keeps every proposal (SCORE_THRESH_TEST 0): there are tracks"
    key_times = sorted({k["time"] for t in doc["tracks"] for k in t["key_frames"]})
    assert key_times == [float(s) for s in whole_seconds]
    for track in doc["tracks"]:
        assert 0 <= track["start"] <= track["end"] <= doc["duration"] + 1e-6
        for key in track["key_frames"]:
            x1, y1, x2, y2 = key["box"]
            assert 0 <= x1 <= x2 <= 160 and 0 <= y1 <= y2 <= 120 and len(key["actions"]) == 6
        for segment in track["segments"]:
            assert segment["label"] == ACTIONS[segment["action_id"] - 1] and segment["mean_score"] >= 0.5
            assert track["start"] <= segment["start"] <= segment["end"] <= track["end"]

    png = cv2.imread(str(out / "timeline.png"))
    assert png is not None and png.shape[0] > 50

    rows = list(csv.reader((out / "detections.csv").open()))
    assert {(r[0], int(r[1])) for r in rows} == {("val000", s) for s in whole_seconds}
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[2:6])


def test_detections_score_with_ava_eval(trained, tmp_path, capsys):
    # At 30 FPS the video's second s + 2 is the annotated key frame 902 + s of val000.
    video = tmp_path / "val000.mp4"
    encode(video, val_frames(trained, 150), 30)
    assert demo(trained, video, tmp_path / "out") == 0
    gt = tmp_path / "gt.csv"
    with open(trained["annotations"]) as f, open(gt, "w") as g:
        for row in csv.reader(f):
            if row[0] == "val000" and int(row[1]) - 900 < 5:
                g.write(",".join([row[0], str(int(row[1]) - 900)] + row[2:]) + "\n")
    assert gt.read_text()
    result = tmp_path / "map.json"
    assert main(["ava-eval", "--labelmap", trained["label_map"], "--groundtruth", str(gt), "--detections",
                 str(tmp_path / "out" / "detections.csv"), "--json", str(result)]) == 0
    scored = json.loads(result.read_text())
    assert 0.0 <= scored["mAP"] <= 1.0 and set(scored["per_class"]) == set(ACTIONS)


def test_video_shorter_than_a_clip_and_every_frame_key_frames(trained, tmp_path):
    video = tmp_path / "short.mp4"
    encode(video, val_frames(trained, 3), 30)  # a clip spans 10 frames at 30 FPS
    out = tmp_path / "out"
    assert demo(trained, video, out, "--key-stride", "0") == 0
    assert probe(out / "annotated.mp4")["frames"] == 3
    doc = json.loads((out / "tracks.json").read_text())
    assert sorted({k["time"] for t in doc["tracks"] for k in t["key_frames"]}) == pytest.approx([0, 1 / 30, 2 / 30], abs=1e-4)


def error_of(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_bad_inputs_one_line_exit_1(trained, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    assert demo(trained, missing, tmp_path / "o1") == 1
    assert error_of(capsys) == f"woo demo: error: input not found: {missing}"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    assert demo(trained, junk, tmp_path / "o2") == 1
    assert error_of(capsys).startswith(f"woo demo: error: cannot read video {junk}")
    # An mp4 whose index announces 30 frames and whose data is all zeros: nothing decodes.
    whole, zeroed = tmp_path / "whole.mp4", tmp_path / "zeroed.mp4"
    encode(whole, val_frames(trained, 30), 30, container_options={"movflags": "faststart"})
    data = bytearray(whole.read_bytes())
    start = data.index(b"mdat") + 4
    data[start:] = bytes(len(data) - start)
    zeroed.write_bytes(bytes(data))
    assert demo(trained, zeroed, tmp_path / "o3") == 1
    assert error_of(capsys).startswith(f"woo demo: error: no frame of {zeroed} decodes")
    assert not os.path.exists(tmp_path / "o3")  # nothing is left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo(trained, empty, tmp_path / "o4") == 1
    assert error_of(capsys) == f"woo demo: error: {empty} holds no frame (.jpg, .jpeg, .png, .bmp)"


def test_bad_weights_name_the_file(trained, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    encode(video, val_frames(trained, 4), 30)
    missing = tmp_path / "nope.pth"
    assert demo(trained, video, tmp_path / "o", weights=str(missing)) == 1
    assert str(missing) in error_of(capsys)
    foreign = tmp_path / "foreign.pth"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, foreign)
    assert demo(trained, video, tmp_path / "o", weights=str(foreign)) == 1
    assert error_of(capsys).startswith(f"woo demo: error: {foreign} is not a WOO checkpoint for this config")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"garbage")
    assert demo(trained, video, tmp_path / "o", weights=str(garbage)) == 1
    assert f"cannot read checkpoint {garbage}" in error_of(capsys)
    assert main(["demo", "--config-file", INSTANT, "--input", str(video), "--output", str(tmp_path / "o")]) == 1
    assert "MODEL.WEIGHTS is empty" in error_of(capsys)


def test_truncated_video_reports_lost_frames(trained, tmp_path, capsys):
    whole = tmp_path / "whole.mp4"
    # The index (moov) first, as "faststart" puts it, so that the cut file still opens.
    # A key frame every 10 frames, so that the frames before the cut decode.
    encode(whole, val_frames(trained, 90), 30, container_options={"movflags": "faststart"}, codec_options={"g": "10"})
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 7 // 10])
    assert demo(trained, cut, tmp_path / "out") == 0
    written = probe(tmp_path / "out" / "annotated.mp4")["frames"]
    assert 0 < written < 90
    captured = capsys.readouterr()
    assert f"woo demo: warning: {90 - written} frames of {cut} did not decode" in captured.err
    assert f"{written} frames" in captured.out


def test_an_interrupted_demo_leaves_no_output(trained, tmp_path):
    from woo.config import get_cfg
    from woo.inference.demo import run_demo
    from woo.inference.predictor import VideoPredictor

    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.MODEL.WEIGHTS = trained["weights"]
    predictor = VideoPredictor(cfg, batch_size=1)
    calls = []

    def interrupted(clips, input_size=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return VideoPredictor.predict_clips(predictor, clips, input_size)

    predictor.predict_clips = interrupted
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_demo(predictor, val_frames(trained, 150), str(out), show_progress=False)
    assert not out.exists()  # the folder the run created goes too


def test_predictor_entry_points_agree(trained):
    from woo.config import get_cfg
    from woo.data.transforms import resize_clip
    from woo.inference import VideoPredictor

    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.MODEL.WEIGHTS = trained["weights"]
    predictor = VideoPredictor(cfg, key_stride=1.0, batch_size=2)
    frames = val_frames(trained, 40)  # 160 x 120 -> test size 64 x 85
    results = list(predictor(frames, fps=30))
    assert [r.time for r in results] == [0.0, 1.0]
    assert results[1].frame_index == 30 and results[1].class_names == ACTIONS
    # The clip of key frame 30 (second 1.0) at 30 FPS: T frames tau apart around it.
    clip_idx = 30 + (np.arange(cfg.INPUT.NUM_FRAMES) - cfg.INPUT.NUM_FRAMES // 2) * cfg.INPUT.SAMPLING_RATE
    clip = torch.from_numpy(frames[clip_idx]).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    direct = predictor.predict_clips(clip)[0]  # resized here as at test time
    resized = torch.from_numpy(resize_clip(frames[clip_idx], predictor.test_size(120, 160))).permute(3, 0, 1, 2)[None]
    pre = predictor.predict_clips(resized, input_size=(120, 160))[0]
    as_float = predictor.predict_clips(resized.float(), input_size=(120, 160))[0]
    for other in (pre, as_float):
        torch.testing.assert_close(other["boxes"], direct["boxes"], atol=1e-3, rtol=0)
        torch.testing.assert_close(other["actions"], direct["actions"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(results[1].boxes, direct["boxes"].numpy(), atol=1e-3)
    assert direct["boxes"][:, 2].max() <= 160 and direct["boxes"][:, 3].max() <= 120
    # actor_x_action: the action scores are the probabilities times the actor score.
    assert torch.all(direct["actions"] <= direct["scores"][:, None] + 1e-6)


def test_predictor_gives_the_model_input_format_channels(trained):
    """Clips are RGB; a config with INPUT.FORMAT "BGR" (a model trained on BGR clips) gets them reversed."""
    from woo.config import get_cfg
    from woo.inference import VideoPredictor

    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.MODEL.WEIGHTS = trained["weights"]
    rgb = VideoPredictor(cfg, batch_size=1)
    cfg.INPUT.FORMAT = "BGR"
    bgr = VideoPredictor(cfg, batch_size=1)
    clip = torch.from_numpy(val_frames(trained, 12)[:cfg.INPUT.NUM_FRAMES]).permute(3, 0, 1, 2)[None]
    clip[:, 0] = 0  # no red: the two orders differ
    as_bgr, reversed_rgb = bgr.predict_clips(clip)[0], rgb.predict_clips(clip.flip(1))[0]
    torch.testing.assert_close(as_bgr["boxes"], reversed_rgb["boxes"])
    torch.testing.assert_close(as_bgr["actions"], reversed_rgb["actions"])
    assert not torch.allclose(as_bgr["actions"], rgb.predict_clips(clip)[0]["actions"])


def test_import_woo_stays_light():
    code = ("import sys, woo; assert 'torch' not in sys.modules; "
            "from woo.inference import VideoPredictor; assert 'detectron2' not in sys.modules; print('ok')")
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "projects", "WOO")}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "ok\n"


def test_readme_python_snippet_runs(trained, tmp_path, monkeypatch, capsys):
    """README.md's "In Python" block as written, with the instant config, its checkpoint and a video."""
    import re

    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        match = re.search(r"In Python \(a file.*?```python\n(.*?)```", f.read(), re.S)
    assert match, "README.md has no 'In Python' block"
    code = match.group(1)
    for name in ("configs/Synthetic/WOO_Tiny.yaml", "output/synthetic/WOO_Tiny/model_final.pth", "my_video.mp4"):
        assert f'"{name}"' in code, name
    encode(tmp_path / "my_video.mp4", val_frames(trained, 60), 30)
    code = (code.replace('"configs/Synthetic/WOO_Tiny.yaml"', repr(INSTANT))
            .replace('"output/synthetic/WOO_Tiny/model_final.pth"', repr(trained["weights"])))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert capsys.readouterr().out.count("\n") >= 2  # a line per key frame (seconds 0 and 1)
    results = namespace["results"]
    assert len(results) == 2 and set(results[0]) == {"boxes", "scores", "actions"}
    assert results[0]["actions"].shape[1] == len(ACTIONS)
