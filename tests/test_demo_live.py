"""`woo demo` on live inputs: a stream served at real-time pace over localhost TCP (the
``trained`` WOO_Instant of conftest.py), standard input, silent and unreachable sources,
Ctrl-C; and the parts: input kinds, the newest-first scheduler, the window check."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest

from test_demo import INSTANT, encode, error_of, probe, val_frames
from woo.cli import main
from woo.inference.clip_sampler import KeyClip
from woo.inference.live_input import live_kind, live_target, redact
from woo.inference.live_schedule import LatestClipScheduler, SkippedKeyFrame
from woo.inference.live_view import display_problem
from woo.inference.render import H264Writer
from woo.inference.stream_server import PacedStreamServer
from woo.inference.video_reader import ThreadedFrameReader, open_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FPS = 30


@pytest.fixture
def clip(trained, tmp_path):
    """6 s of synthetic val000 at 30 FPS as mp4 (180 frames, 160 x 120)."""
    path = tmp_path / "val000.mp4"
    encode(path, val_frames(trained, 180), FPS)
    return path


def woo_demo(trained, source, out, *extra, start=subprocess.Popen, **popen):
    """``woo demo`` on ``source`` as a subprocess (as a user runs it), started by ``start``."""
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "projects", "WOO"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "woo.cli", "demo", "--config-file", INSTANT, "--input", str(source),
               "--output", str(out), "--timeout", "3", *extra, "MODEL.WEIGHTS", trained["weights"]]
    return start(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s")
        time.sleep(0.05)


def log_lines(out):
    path = out / "live.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_complete(out, max_frames):
    """The outputs of a live run are all there and annotated.mp4 plays; returns (tracks.json, frames)."""
    assert {"annotated.mp4", "detections.csv", "tracks.json", "timeline.png", "index.html",
            "live.jsonl"} <= set(os.listdir(out))
    video = probe(out / "annotated.mp4")
    assert video["codec"] == "h264" and video["size"] == (160, 120) and 0 < video["frames"] <= max_frames
    doc = json.loads((out / "tracks.json").read_text())
    assert doc["duration"] == pytest.approx(video["frames"] / FPS, abs=0.05)
    return doc, video["frames"]


def check_log(lines, doc):
    """live.jsonl: one line per scored key frame, in time order, with its delay and tracks."""
    live = doc["live"]
    assert len(lines) == live["scored_key_frames"] >= 1
    times = [line["time"] for line in lines]
    assert times == sorted(times) and not set(times) & set(live["skipped_key_frames"])
    for line in lines:
        # The frame nearest the key frame (a B-frame cut off at the end of a stream shifts the count by one).
        assert line["delay"] >= 0 and line["arrival"] > 1e9 and abs(line["frame"] - line["time"] * FPS) <= 1
        for track in line["tracks"]:
            x1, y1, x2, y2 = track["box"]
            assert 0 <= x1 <= x2 <= 160 and 0 <= y1 <= y2 <= 120 and len(track["actions"]) <= 3
            assert all(a["score"] >= 0.5 and 1 <= a["id"] <= 6 for a in track["actions"])
    assert live["delay_seconds"]["median"] == pytest.approx(float(np.median([line["delay"] for line in lines])),
                                                            abs=2e-3)
    # A clip needs the frames up to half a clip after its key frame (WOO_Instant: 4 frames 3 apart).
    assert live["lookahead_seconds"] == pytest.approx(0.1)


@pytest.mark.slow
def test_tcp_stream_is_scored_while_it_plays(trained, clip, tmp_path):
    out = tmp_path / "out"
    with PacedStreamServer(str(clip)) as server:
        demo = woo_demo(trained, server.url, out)
        try:
            wait_for(lambda: log_lines(out) or demo.poll() is not None, 300, "line in live.jsonl")
            assert log_lines(out), demo.communicate()
            assert not server.finished.is_set(), "a key frame is logged while the stream still plays"
            stdout, stderr = demo.communicate(timeout=120)
        finally:
            demo.kill()
    assert demo.returncode == 0, stderr
    doc, frames = check_complete(out, 180)
    assert frames == 180
    check_log(log_lines(out), doc)
    assert doc["live"]["stopped"] == "end of stream" and doc["live"]["input"] == server.url
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith(f"woo demo: wrote annotated.mp4, detections.csv, tracks.json, timeline.png, "
                              f"index.html and live.jsonl to {out}: 180 frames")
    assert f"{doc['live']['scored_key_frames']} key frames scored" in summary and "median" in summary


def to_mpegts(video, path):
    """Remux ``video`` into MPEG-TS at ``path``, as a camera or ``ffmpeg -f mpegts`` sends it."""
    with av.open(str(video)) as source, av.open(str(path), "w", format="mpegts") as muxer:
        stream = source.streams.video[0]
        out_stream = muxer.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = out_stream
                muxer.mux(packet)
    return path


@pytest.mark.slow
def test_standard_input(trained, clip, tmp_path):
    stream = to_mpegts(clip, tmp_path / "clip.ts")
    out = tmp_path / "out"
    with open(stream, "rb") as f:
        demo = woo_demo(trained, "-", out, stdin=f)
        stdout, stderr = demo.communicate(timeout=300)
    assert demo.returncode == 0, stderr
    doc, frames = check_complete(out, 180)
    assert frames == 180 and doc["video_id"] == "stdin" and doc["live"]["input"] == "standard input"
    check_log(log_lines(out), doc)


@pytest.mark.slow
def test_ctrl_c_leaves_a_complete_result(trained, clip, tmp_path, interruptible):
    out = tmp_path / "out"
    with PacedStreamServer(str(clip)) as server:
        demo = woo_demo(trained, server.url, out, start=interruptible)
        try:
            wait_for(lambda: len(log_lines(out)) >= 2 or demo.poll() is not None, 300, "two lines in live.jsonl")
            assert not server.finished.is_set()
            demo.send_signal(signal.SIGINT)
            stdout, stderr = demo.communicate(timeout=120)
        finally:
            demo.kill()
    assert demo.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("woo demo: interrupted: wrote annotated.mp4, detections.csv, tracks.json, timeline.png, "
                           "index.html of the ") and last.endswith(f"s received to {out}")
    assert "Traceback" not in stderr
    doc, frames = check_complete(out, 180)
    assert frames < 180 and doc["live"]["stopped"] == "interrupted"
    check_log(log_lines(out), doc)


def test_a_stream_that_goes_silent_ends_with_the_timeout_error(trained, clip, tmp_path, capsys):
    out = tmp_path / "out"
    with PacedStreamServer(str(clip), stall_after=2.0) as server:
        code = main(["demo", "--config-file", INSTANT, "--input", server.url, "--output", str(out),
                     "--timeout", "2", "MODEL.WEIGHTS", trained["weights"]])
        assert server.finished.is_set() and server.error is None
    assert code == 1
    doc, frames = check_complete(out, 61)
    err = capsys.readouterr().err  # the progress bar, then one line
    expected = (f"woo demo: error: {server.url} sent nothing for 2 s (--timeout 2); the {doc['duration']:.1f} s "
                f"received are in {out}")
    assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("woo demo:")] == [expected]
    assert doc["live"]["stopped"] == f"{server.url} sent nothing for 2 s"
    check_log(log_lines(out), doc)


def test_unreachable_and_silent_sources_fail_in_one_line(trained, tmp_path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    args = ["--config-file", INSTANT, "--timeout", "1", "MODEL.WEIGHTS", trained["weights"]]
    assert main(["demo", "--input", f"tcp://127.0.0.1:{port}", "--output", str(tmp_path / "o1"), *args]) == 1
    assert error_of(capsys) == f"woo demo: error: cannot open tcp://127.0.0.1:{port}: Connection refused"
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never sends
        url = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        assert main(["demo", "--input", url, "--output", str(tmp_path / "o2"), *args]) == 1
    assert error_of(capsys) == f"woo demo: error: cannot open {url}: nothing received in 1 s"
    password = "rtsp://user:secret@127.0.0.1:1/stream"
    assert main(["demo", "--input", password, "--output", str(tmp_path / "o3"), *args]) == 1
    message = error_of(capsys)
    assert "secret" not in message and "rtsp://user:***@127.0.0.1:1/stream" in message
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3"))


def test_duration_and_bad_flags(trained, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    encode(video, val_frames(trained, 90), FPS)
    out = tmp_path / "out"
    assert main(["demo", "--config-file", INSTANT, "--input", str(video), "--output", str(out), "--duration", "2",
                 "MODEL.WEIGHTS", trained["weights"]]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "60 frames, 2 key frames" in captured.out
    assert probe(out / "annotated.mp4")["frames"] == 60 and not (out / "live.jsonl").exists()
    for flag, value in (("--duration", "0"), ("--timeout", "-1"), ("--input-option", "rtsp_transport")):
        assert main(["demo", "--config-file", INSTANT, "--input", str(video), "--output", str(tmp_path / "o"),
                     flag, value, "MODEL.WEIGHTS", trained["weights"]]) == 2
        assert error_of(capsys).startswith(f"woo demo: error: {flag} ")


def test_show_without_a_gui_is_a_clear_error(trained, tmp_path, capsys):
    import cv2

    if display_problem(cv2.getBuildInformation(), sys.platform, os.environ) is None:
        pytest.skip("this machine can open a window")
    video = tmp_path / "v.mp4"
    encode(video, val_frames(trained, 4), FPS)
    assert main(["demo", "--config-file", INSTANT, "--input", str(video), "--output", str(tmp_path / "o"), "--show",
                 "MODEL.WEIGHTS", trained["weights"]]) == 1
    assert error_of(capsys).startswith("woo demo: error: --show needs ")
    assert not (tmp_path / "o").exists()


def test_display_problem():
    headless = "  GUI:                           NONE\n    VTK support:                 NO\n"
    gtk = "  GUI:                           GTK3\n    GTK+:                        YES (ver 3.24.20)\n"
    assert "pip install opencv-python" in display_problem(headless, "linux", {"DISPLAY": ":0"})
    assert "DISPLAY" in display_problem(gtk, "linux", {})
    assert display_problem(gtk, "linux", {"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert display_problem(gtk, "darwin", {}) is None


def test_live_input_kinds(tmp_path, monkeypatch):
    assert live_kind("-") == "stdin"
    for url in ("rtsp://cam/stream1", "RTMP://h/live", "http://h/x.m3u8", "udp://@:1234", "tcp://127.0.0.1:9"):
        assert live_kind(url) == "network"
    assert live_kind("/dev/video0") == live_kind("2") == "camera"
    assert live_kind("video=Integrated Camera", platform="win32") == "camera"
    assert live_kind("video=Integrated Camera", platform="linux") is None
    for path in ("clip.mp4", "frames/", "ftp://h/clip.mp4"):
        assert live_kind(path) is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "0").write_bytes(b"")
    assert live_kind("0") is None  # a file named 0 is a file

    linux = live_target("2", "camera", 5, platform="linux")
    assert (linux.target, linux.format, linux.video_id) == ("/dev/video2", "v4l2", "video2")
    mac = live_target("0", "camera", 5, platform="darwin")
    assert (mac.target, mac.format) == ("0", "avfoundation")
    windows = live_target("video=USB Cam", "camera", 5, platform="win32")
    assert (windows.target, windows.format, windows.video_id) == ("video=USB Cam", "dshow", "USB_Cam")
    with pytest.raises(ValueError, match=r'--input "video=<name>"'):
        live_target("0", "camera", 5, platform="win32")
    stream = live_target("rtsp://u:pw@cam.local:554/live/stream1.sdp", "network", 5)
    assert stream.name == "rtsp://u:***@cam.local:554/live/stream1.sdp" and stream.video_id == "stream1"
    assert redact("udp://@:1234") == "udp://@:1234"


def test_missing_camera_is_one_error(trained, tmp_path, capsys):
    assert main(["demo", "--config-file", INSTANT, "--input", "/dev/video99", "--output", str(tmp_path / "o"),
                 "MODEL.WEIGHTS", trained["weights"]]) == 1
    assert error_of(capsys).startswith("woo demo: error: cannot open /dev/video99: ")


def _clip(t: float) -> KeyClip:
    return KeyClip(time=t, frame_index=int(t * FPS), frames=np.zeros((1, 1, 1, 3), np.uint8))


def test_scheduler_scores_the_newest_and_skips_the_rest():
    started, release = threading.Event(), threading.Event()
    scored = []

    def predict(clips):
        scored.append(clips[0].time)
        started.set()
        assert release.wait(10)
        return [f"result {clips[0].time:g}"]

    scheduler = LatestClipScheduler(predict)
    scheduler.submit([_clip(0.0)])
    assert started.wait(10)  # busy with key frame 0
    scheduler.submit([_clip(1.0), _clip(2.0)])
    scheduler.submit([_clip(3.0)])
    release.set()
    scheduler.close()
    done = scheduler.take()
    assert scored == [0.0, 3.0]
    assert done == ["result 0", SkippedKeyFrame(1.0, 30), SkippedKeyFrame(2.0, 60), "result 3"]


def test_scheduler_cancel_and_errors():
    started, release = threading.Event(), threading.Event()

    def predict(clips):
        started.set()
        assert release.wait(10)
        return ["done"]

    scheduler = LatestClipScheduler(predict)
    scheduler.submit([_clip(0.0)])
    assert started.wait(10)
    scheduler.submit([_clip(1.0)])
    release.set()
    scheduler.cancel()  # the pass in progress finishes; the pending key frame is skipped
    assert sorted(map(str, scheduler.take())) == sorted(["done", str(SkippedKeyFrame(1.0, 30))])

    def broken(clips):
        raise RuntimeError("CUDA out of memory")

    failing = LatestClipScheduler(broken)
    failing.submit([_clip(0.0)])
    failing.close()
    with pytest.raises(RuntimeError, match="out of memory"):
        failing.take()


def test_live_reader_records_arrivals_and_drops_when_behind(trained, clip):
    with PacedStreamServer(str(clip)) as server:
        source = open_video(server.url, timeout=3)
        assert source.info.live and source.info.expected_frames is None
        reader = ThreadedFrameReader(source, queue_size=2)
        frames, received = [], []
        for frame in reader.frames(tick=0.05):
            if frame is not None:
                frames.append(frame)
                received.append(time.time())
                time.sleep(0.1)  # a consumer slower than 30 FPS
    stats = reader.stats
    assert stats.dropped > 0 and len(frames) + stats.dropped == stats.decoded == 180
    times = [f.time for f in frames]
    assert times[0] == 0.0 and times == sorted(times)
    assert all(abs(t * FPS - f.index) < 1e-3 for t, f in zip(times, frames))  # from the stream's timestamps
    # Each frame's packet arrival (B-frames arrive after the frame they precede on screen).
    arrivals = [f.arrival for f in frames]
    assert all(a <= r for a, r in zip(arrivals, received))
    # Paced in real time: 6 s of video arrive over about 6 s (not asserted tighter: shared machines).
    assert max(arrivals) - min(arrivals) > 3.0


def test_a_restarted_stream_keeps_its_time_going(trained, clip, tmp_path):
    # Two streams one after the other on one connection: the second's timestamps start again.
    data = to_mpegts(clip, tmp_path / "clip.ts").read_bytes() * 2
    with socket.create_server(("127.0.0.1", 0)) as server:
        def send():
            connection, _ = server.accept()
            with connection:
                connection.sendall(data)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reader = ThreadedFrameReader(open_video(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout=3))
        times = [frame.time for frame in reader]
        sender.join(10)
    assert len(times) == 360 and reader.stats.time_jumps == 1 and reader.stats.stopped is None
    assert np.all(np.diff(times) > 0) and times[180] == pytest.approx(times[179] + 1 / FPS)


def test_writer_keeps_a_live_stream_timing(tmp_path):
    path = tmp_path / "gaps.mp4"
    writer = H264Writer(str(path), width=32, height=16, fps=FPS)
    for t in (0.0, 1 / FPS, 5 / FPS, 5 / FPS + 0.001, 6 / FPS):  # a gap, then a late frame
        writer.write(np.zeros((16, 32, 3), np.uint8), t)
    writer.close()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pts = [f.pts for f in c.decode(stream)]
    assert [round(float(p * stream.time_base) * FPS) for p in pts] == [0, 1, 5, 6, 7]
