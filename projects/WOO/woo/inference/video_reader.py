"""Streaming video decoding: a file (PyAV), a folder of frames or an array, in a background thread.

Frames come out one by one with their time in seconds (from the container's
timestamps, so a 25 or 29.97 FPS video keeps its real timing), never the whole
video in memory. A decoder thread fills a bounded queue, so decoding overlaps
the model and the queue caps what is held.
"""
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator, Optional, Sequence, Union

import av
import numpy as np

from woo.data.frames import read_frames

__all__ = ["VideoReadError", "VideoInfo", "DecodedFrame", "DecodeStats", "open_video", "ThreadedFrameReader"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# Frames of a folder or an array have no timestamps; they are spaced at this rate unless told.
DEFAULT_FPS = 30


class VideoReadError(OSError):
    """An input that is missing, unreadable or has no frame; the message names it."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it.

    Attributes:
        name: the path, or "<array>".
        video_id: the file's (or folder's) stem; "video" for an array.
        width / height: frame size in pixels.
        fps: frame rate (exact, e.g. Fraction(30000, 1001)).
        expected_frames: frames the container announces (or its duration x fps);
            None when unknown.
    """

    name: str
    video_id: str
    width: int
    height: int
    fps: Fraction
    expected_frames: Optional[int]


@dataclass
class DecodedFrame:
    """One decoded frame.

    Attributes:
        index: 0-based position among the decoded frames.
        time: seconds from the first frame.
        image: (H, W, 3) uint8 RGB at the input's size.
        model_image: ``image`` after the reader's ``transform`` (e.g. the
            test-time resize), or ``image`` without one.
    """

    index: int
    time: float
    image: np.ndarray
    model_image: np.ndarray


@dataclass
class DecodeStats:
    """Counted while decoding: frames decoded, undecodable packets, decoder time."""

    decoded: int = 0
    errors: int = 0
    seconds: float = 0.0
    messages: list = field(default_factory=list)

    def lost_frames(self, info: VideoInfo) -> int:
        """Frames the container announced that did not decode (0 when the count is unknown)."""
        if info.expected_frames is None:
            return self.errors
        return max(info.expected_frames - self.decoded, self.errors, 0)


class _Source:
    info: VideoInfo

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        """Yield ``(time, (H, W, 3) uint8 RGB)``; count problems in ``stats``."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _PyAVSource(_Source):
    def __init__(self, path: str):
        try:
            self._container = av.open(path)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise VideoReadError(f"cannot read video {path}: {_reason(e)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{path} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
        expected = stream.frames or None
        if expected is None and stream.duration and stream.time_base:
            expected = int(round(float(stream.duration * stream.time_base * fps)))
        elif expected is None and self._container.duration:
            expected = int(round(self._container.duration / av.time_base * float(fps)))
        if not stream.codec_context.width:
            self._container.close()
            raise VideoReadError(f"cannot read video {path}: the video stream has no frame size")
        self._stream = stream
        self.info = VideoInfo(name=path, video_id=_stem(path), width=stream.codec_context.width,
                              height=stream.codec_context.height, fps=Fraction(fps), expected_frames=expected)

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        stream, first_pts, count = self._stream, None, 0
        packets = self._container.demux(stream)
        flushed = False
        while not flushed:
            try:
                packet = next(packets)
            except (StopIteration, av.error.FFmpegError) as e:
                if not isinstance(e, StopIteration):  # a truncated container ends here
                    stats.messages.append(f"demuxing stopped: {_reason(e)}")
                packet, flushed = None, True  # drain the frames the (threaded) decoder still holds
            try:
                decoded = stream.codec_context.decode(packet)
            except av.error.EOFError:  # already drained by the demuxer's own last (empty) packet
                decoded = []
            except av.error.FFmpegError as e:
                stats.errors += 1
                stats.messages.append(f"undecodable packet: {_reason(e)}")
                continue
            for frame in decoded:
                if frame.pts is None:  # no timestamp: assume a constant rate
                    seconds = count / float(self.info.fps)
                else:
                    first_pts = frame.pts if first_pts is None else first_pts
                    seconds = float((frame.pts - first_pts) * stream.time_base)
                count += 1
                yield seconds, frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self._container.close()


class _FolderSource(_Source):
    def __init__(self, folder: str, fps: Fraction):
        self._paths = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                             if n.lower().endswith(IMAGE_EXTENSIONS))
        if not self._paths:
            raise VideoReadError(f"{folder} holds no frame ({', '.join(IMAGE_EXTENSIONS)})")
        first = self._read(self._paths[0])
        self._fps = fps
        self.info = VideoInfo(name=folder, video_id=_stem(folder), width=first.shape[1], height=first.shape[0],
                              fps=fps, expected_frames=len(self._paths))

    @staticmethod
    def _read(path: str) -> np.ndarray:
        try:
            return read_frames([path])[0]
        except OSError as e:
            raise VideoReadError(str(e)) from None

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        for i, path in enumerate(self._paths):
            try:
                image = self._read(path)
            except VideoReadError as e:
                stats.errors += 1
                stats.messages.append(str(e))
                continue
            if image.shape[:2] != (self.info.height, self.info.width):
                stats.errors += 1
                stats.messages.append(f"{path} is {image.shape[:2]}, the first frame "
                                      f"{(self.info.height, self.info.width)}")
                continue
            yield i / float(self._fps), image


class _ArraySource(_Source):
    def __init__(self, array: np.ndarray, fps: Fraction):
        if array.ndim != 4 or array.shape[-1] != 3 or len(array) == 0:
            raise VideoReadError(f"a video array must be (T, H, W, 3) RGB with T >= 1, got {array.shape}")
        self._array = array
        self._fps = fps
        self.info = VideoInfo(name="<array>", video_id="video", width=array.shape[2], height=array.shape[1],
                              fps=fps, expected_frames=len(array))

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        for i, image in enumerate(self._array):
            yield i / float(self._fps), np.ascontiguousarray(image, dtype=np.uint8)


def open_video(video: Union[str, np.ndarray, Sequence], fps: Optional[float] = None) -> _Source:
    """Open a video file (anything PyAV decodes: mp4, avi, mkv, webm...), a folder of
    frames (sorted by name) or a (T, H, W, 3) RGB array.

    Args:
        fps: frame rate of a folder or array (default 30); a file's own rate is used.

    Raises:
        VideoReadError: naming the input when it is missing or cannot be opened.
    """
    rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(DEFAULT_FPS)
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if os.path.isdir(path):
            return _FolderSource(path, rate)
        if not os.path.isfile(path):
            raise VideoReadError(f"input not found: {path}")
        return _PyAVSource(path)
    return _ArraySource(np.asarray(video), rate)


class ThreadedFrameReader:
    """Decode a source in a background thread into a bounded queue.

    Iterating yields :class:`DecodedFrame` in order; a decoder error is raised
    in the iterating thread. ``stats`` counts frames, problems and decoder time.

    Args:
        source: from :func:`open_video`.
        transform: applied to each frame in the decoder thread (e.g. the
            test-time resize), stored as ``model_image``.
        queue_size: most decoded frames waiting in the queue.
    """

    _END = object()

    def __init__(self, source: _Source, transform: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 queue_size: int = 32):
        self.source = source
        self.info = source.info
        self.stats = DecodeStats()
        self._transform = transform
        self._queue: "queue.Queue" = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="woo-video-decoder", daemon=True)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self) -> None:
        try:
            start = time.perf_counter()
            for index, (seconds, image) in enumerate(self.source.frames(self.stats)):
                model_image = self._transform(image) if self._transform else image
                self.stats.decoded += 1
                self.stats.seconds += time.perf_counter() - start
                if not self._put(DecodedFrame(index, seconds, image, model_image)):
                    return
                start = time.perf_counter()
            self._put(self._END)
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(e)
        finally:
            self.source.close()

    def __iter__(self) -> Iterator[DecodedFrame]:
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            self._thread.join()


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
