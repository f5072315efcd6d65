"""Streaming decoding and clip sampling by time (no model)."""
from fractions import Fraction

import numpy as np
import pytest

from woo.inference.clip_sampler import StreamingClipSampler
from woo.inference.render import H264Writer
from woo.inference.video_reader import DecodedFrame, ThreadedFrameReader, VideoReadError, open_video


def numbered(count, fps):
    """Frames whose model image is their own index, at ``fps``."""
    for i in range(count):
        yield DecodedFrame(i, i / fps, None, np.full((1, 1, 3), i, dtype=np.int64))


def sample(count, fps, **kwargs):
    sampler = StreamingClipSampler(**kwargs)
    clips = [c for f in numbered(count, fps) for c in sampler.push(f)] + sampler.finish()
    return clips, sampler


def indices(clip):
    return clip.frames[:, 0, 0, 0].tolist()


@pytest.mark.parametrize("fps", [25.0, 30000 / 1001, 30.0])
def test_clips_are_sampled_by_time_at_30_fps(fps):
    clips, sampler = sample(int(10 * fps), fps, num_frames=8, sampling_rate=3, key_stride=1.0)
    assert [c.time for c in clips] == [float(t) for t in range(10)]
    for clip in clips:
        wanted = clip.time + (np.arange(8) - 4) * 0.1  # 3 frames at 30 FPS = 0.1 s
        wanted = np.clip(wanted, 0.0, (int(10 * fps) - 1) / fps)
        # The nearest frame by time (either one at a tie).
        assert np.all(np.abs(np.asarray(indices(clip)) / fps - wanted) <= 0.5 / fps + 1e-9)
        assert clip.frame_index == int(round(clip.time * fps))
    # Only the frames of about one clip (0.7 s) are held, never the whole video.
    assert sampler.max_buffered <= int(0.8 * fps) + 2


def test_every_frame_a_key_frame_and_fractional_strides():
    clips, _ = sample(20, 30.0, num_frames=4, sampling_rate=2, key_stride=0)
    assert [c.frame_index for c in clips] == list(range(20))
    assert indices(clips[10]) == [6, 8, 10, 12]
    clips, _ = sample(60, 30.0, num_frames=4, sampling_rate=2, key_stride=0.5)
    assert [c.time for c in clips] == [0.0, 0.5, 1.0, 1.5]


def test_a_video_shorter_than_a_clip_repeats_its_edge_frames():
    clips, _ = sample(5, 30.0, num_frames=8, sampling_rate=3, key_stride=1.0)
    assert len(clips) == 1 and indices(clips[0]) == [0, 0, 0, 0, 0, 3, 4, 4]
    clips, _ = sample(1, 30.0, num_frames=4, sampling_rate=1, key_stride=0)
    assert indices(clips[0]) == [0, 0, 0, 0]


def encode(path, frames, fps, container_options=None):
    import av

    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))


def gradient_frames(count, height=48, width=64):
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return np.stack([np.broadcast_to((ramp + 7 * i) % 256, (height, width, 3)) for i in range(count)]).astype(np.uint8)


@pytest.mark.parametrize("fps", [25, Fraction(30000, 1001)])
def test_reader_gives_timestamps_of_the_container(tmp_path, fps):
    path = tmp_path / "v.mp4"
    encode(path, gradient_frames(20), fps)
    reader = ThreadedFrameReader(open_video(str(path)), transform=lambda im: im[::2, ::2], queue_size=2)
    assert reader.info.fps == fps and (reader.info.width, reader.info.height) == (64, 48)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(20))
    np.testing.assert_allclose([f.time for f in frames], np.arange(20) / float(fps), atol=1e-3)
    assert frames[3].model_image.shape == (24, 32, 3) and frames[3].image.shape == (48, 64, 3)
    assert reader.stats.decoded == 20 and reader.stats.lost_frames(reader.info) == 0


def test_truncated_file_counts_lost_frames(tmp_path):
    path = tmp_path / "whole.mp4"
    # The index (moov) first, as "faststart" puts it, so that the cut file still opens.
    encode(path, gradient_frames(60), 30, container_options={"movflags": "faststart"})
    data = path.read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    reader = ThreadedFrameReader(open_video(str(cut)))
    frames = list(reader)
    assert 0 < len(frames) < 60
    assert reader.info.expected_frames == 60
    assert reader.stats.lost_frames(reader.info) == 60 - len(frames)


def test_folder_and_array_inputs(tmp_path):
    import cv2

    frames = gradient_frames(3)
    for i, image in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), image[:, :, ::-1])
    (tmp_path / "notes.txt").write_text("not a frame")
    reader = ThreadedFrameReader(open_video(str(tmp_path), fps=10))
    decoded = list(reader)
    assert [f.time for f in decoded] == [0.0, 0.1, 0.2] and reader.info.video_id == tmp_path.name
    np.testing.assert_array_equal(decoded[2].image, frames[2])
    array_frames = list(ThreadedFrameReader(open_video(frames)))
    assert len(array_frames) == 3 and array_frames[1].time == pytest.approx(1 / 30)


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(VideoReadError, match="not found: .*missing.mp4"):
        open_video(str(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(VideoReadError, match="junk.mp4"):
        open_video(str(junk))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoReadError, match="holds no frame"):
        open_video(str(empty))
    with pytest.raises(VideoReadError, match=r"\(T, H, W, 3\)"):
        open_video(np.zeros((0, 4, 4, 3), np.uint8))


def test_writer_keeps_size_rate_and_frame_count_with_odd_sizes(tmp_path):
    import av

    path = tmp_path / "odd.mp4"
    writer = H264Writer(str(path), width=33, height=21, fps=Fraction(30000, 1001))
    for image in gradient_frames(7, height=21, width=33):
        writer.write(image)
    writer.close()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == Fraction(30000, 1001)
        assert (stream.width, stream.height) == (34, 22)  # yuv420p: padded to even
        assert sum(1 for _ in c.decode(stream)) == 7
