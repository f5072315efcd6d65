"""Streaming video decoding: a file (PyAV), a live input (camera, network stream, standard
input: :mod:`woo.inference.live_input`), a folder of frames or an array, in a background thread.

Frames come out one by one with their time in seconds (from the container's
timestamps, so a 25 or 29.97 FPS video keeps its real timing), never the whole
video in memory. A decoder thread fills a bounded queue, so decoding overlaps
the model and the queue caps what is held. A live input is never made to wait
for the consumer: a frame that finds its queue full is dropped and counted, and
each frame records the wall-clock time its data arrived.
"""
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Dict, Iterator, Optional, Sequence, Union

import av
import numpy as np

from woo.data.frames import read_frames

from .live_input import DEFAULT_TIMEOUT, LiveTarget, live_kind, live_target, probe_options

__all__ = ["VideoReadError", "VideoInfo", "DecodedFrame", "DecodeStats", "VideoSource", "open_video",
           "ThreadedFrameReader"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# Frames of a folder or an array have no timestamps; they are spaced at this rate unless told.
DEFAULT_FPS = 30
# Seconds of frames a live input may hold waiting for the consumer before frames are dropped.
LIVE_QUEUE_SECONDS = 4.0
# A live input silent this much longer than its own timeout is given up by the consumer (a read
# that FFmpeg cannot interrupt, e.g. a stalled camera driver).
WATCHDOG_GRACE = 2.0


class VideoReadError(OSError):
    """An input that is missing, unreadable or has no frame; the message names it."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it.

    Attributes:
        name: the path, the live input (a URL's password hidden), or "<array>".
        video_id: the file's (or folder's) stem; "video" for an array; a live
            input's device or last URL segment ("video0", "stream1", "stdin").
        width / height: frame size in pixels.
        fps: frame rate (exact, e.g. Fraction(30000, 1001)).
        expected_frames: frames the container announces (or its duration x fps);
            None when unknown.
        live: frames arrive as they happen (a camera, a stream without a
            duration, standard input), not as fast as they decode.
    """

    name: str
    video_id: str
    width: int
    height: int
    fps: Fraction
    expected_frames: Optional[int]
    live: bool = False


@dataclass
class DecodedFrame:
    """One decoded frame.

    Attributes:
        index: 0-based position among the decoded frames.
        time: seconds from the first frame.
        image: (H, W, 3) uint8 RGB at the input's size.
        model_image: ``image`` after the reader's ``transform`` (e.g. the
            test-time resize), or ``image`` without one.
        arrival: wall-clock time (``time.time()``) its data arrived, for a live
            input; None otherwise.
    """

    index: int
    time: float
    image: np.ndarray
    model_image: np.ndarray
    arrival: Optional[float] = None


@dataclass
class DecodeStats:
    """Counted while decoding: frames decoded, undecodable packets, decoder time.

    Attributes:
        dropped: frames of a live input dropped because the consumer fell behind.
        stopped: why a live input ended before its end of stream (it went silent
            or the connection failed), naming it; None otherwise.
        cut: reading stopped on purpose before the end (e.g. ``--duration``).
        time_jumps: times a live input's timestamps went back (a restarted or
            wrapped stream); its time then counts on from the last frame.
    """

    decoded: int = 0
    errors: int = 0
    seconds: float = 0.0
    messages: list = field(default_factory=list)
    dropped: int = 0
    stopped: Optional[str] = None
    cut: bool = False
    time_jumps: int = 0

    def lost_frames(self, info: VideoInfo) -> int:
        """Frames the container announced that did not decode (undecodable packets when the
        count is unknown or reading was cut short)."""
        if info.expected_frames is None or self.cut:
            return self.errors
        return max(info.expected_frames - self.decoded, self.errors, 0)


class VideoSource:
    """What :func:`open_video` returns; ``info`` describes it, ``timeout`` is a live input's."""

    info: VideoInfo
    timeout: Optional[float] = None

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        """Yield ``(time, (H, W, 3) uint8 RGB, arrival or None)``; count problems in ``stats``."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _PyAVSource(VideoSource):
    """A file, or a live input (``live``, opened with ``timeout`` and the small probe) read by PyAV."""

    def __init__(self, path: str, *, live: Optional[LiveTarget] = None, timeout: Optional[float] = None,
                 options: Optional[Dict[str, str]] = None):
        name = live.name if live else path
        try:
            if live is None:
                self._container = av.open(path, container_options=dict(options or {}))
            else:
                self._container = av.open(live.target, format=live.format, container_options=probe_options(options),
                                          timeout=timeout)
        except (av.error.ExitError, TimeoutError):  # PyAV's timeout, or the polled standard input's
            raise VideoReadError(f"cannot open {name}: nothing received in {timeout:g} s") from None
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
            what = "read video" if live is None else "open"
            hint = " (pipe in a container stream, e.g. ffmpeg ... -f mpegts -)" if live and live.kind == "stdin" else ""
            raise VideoReadError(f"cannot {what} {name}: {_reason(e)}{hint}") from None
        except ValueError as e:  # an input format this PyAV lacks (FFmpeg's own errors are caught above)
            raise VideoReadError(f"cannot open {name}: {e}") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{name} has no video stream")
        # A network URL with a duration is a file served over the network, read as a file.
        is_live = live is not None and (live.kind != "network" or self._container.duration is None)
        self.timeout = timeout if live is not None else None
        stream = self._container.streams.video[0]
        # Frame threading holds frames back (one per thread); slices add no delay.
        stream.thread_type = "SLICE" if is_live else "AUTO"
        fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
        expected = stream.frames or None
        if expected is None and stream.duration and stream.time_base:
            expected = int(round(float(stream.duration * stream.time_base * fps)))
        elif expected is None and self._container.duration:
            expected = int(round(self._container.duration / av.time_base * float(fps)))
        if not stream.codec_context.width:
            self._container.close()
            raise VideoReadError(f"cannot read video {name}: the video stream has no frame size")
        self._stream = stream
        self.info = VideoInfo(name=name, video_id=live.video_id if live else _stem(path),
                              width=stream.codec_context.width, height=stream.codec_context.height, fps=Fraction(fps),
                              expected_frames=None if is_live else expected, live=is_live)

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        stream, first_pts, count = self._stream, None, 0
        live, period = self.info.live, 1.0 / float(self.info.fps)
        arrivals: Dict[int, float] = {}  # live: packet pts -> wall-clock time it was received
        offset, last = 0.0, None  # live: seconds added where the timestamps went back
        packets = self._container.demux(stream)
        flushed = False
        while not flushed:
            try:
                packet = next(packets)
            except StopIteration:
                packet, flushed = None, True  # drain the frames the (threaded) decoder still holds
            except (av.error.FFmpegError, OSError) as e:
                # The read timeout (PyAV's, or the polled standard input's), a lost connection,
                # or a truncated file: a live input stops there, a file keeps what it decoded.
                timed_out = isinstance(e, (av.error.ExitError, TimeoutError))
                reason = f"sent nothing for {self.timeout:g} s" if timed_out else _reason(e)
                if live:
                    stats.stopped = f"{self.info.name} {reason}" if timed_out else \
                        f"reading {self.info.name} failed: {reason}"
                else:
                    stats.messages.append(f"demuxing stopped: {reason}")
                packet, flushed = None, True
            if live and packet is not None and packet.pts is not None:
                arrivals[packet.pts] = time.time()
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
                arrival = None
                if live:
                    arrival = arrivals.pop(frame.pts, None) or time.time()
                    for pts in [p for p in arrivals if frame.pts is not None and p < frame.pts]:
                        del arrivals[pts]  # a packet whose frame did not decode
                    seconds += offset
                    if last is not None and seconds <= last:  # a restarted or wrapped stream: keep time going
                        stats.time_jumps += 1
                        offset += last + period - seconds
                        seconds = last + period
                    last = seconds
                count += 1
                yield seconds, frame.to_ndarray(format="rgb24"), arrival

    def close(self) -> None:
        self._container.close()


class _FolderSource(VideoSource):
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
            yield i / float(self._fps), image, None


class _ArraySource(VideoSource):
    def __init__(self, array: np.ndarray, fps: Fraction):
        if array.ndim != 4 or array.shape[-1] != 3 or len(array) == 0:
            raise VideoReadError(f"a video array must be (T, H, W, 3) RGB with T >= 1, got {array.shape}")
        self._array = array
        self._fps = fps
        self.info = VideoInfo(name="<array>", video_id="video", width=array.shape[2], height=array.shape[1],
                              fps=fps, expected_frames=len(array))

    def frames(self, stats: DecodeStats) -> Iterator[tuple]:
        for i, image in enumerate(self._array):
            yield i / float(self._fps), np.ascontiguousarray(image, dtype=np.uint8), None


def open_video(video: Union[str, np.ndarray, Sequence, VideoSource], fps: Optional[float] = None, *,
               timeout: float = DEFAULT_TIMEOUT, options: Optional[Dict[str, str]] = None) -> VideoSource:
    """Open a video file (anything PyAV decodes: mp4, avi, mkv, webm...), a live input (a
    camera, a network stream, ``-`` for standard input: :mod:`woo.inference.live_input`),
    a folder of frames (sorted by name) or a (T, H, W, 3) RGB array. An opened
    :class:`VideoSource` is returned as it is.

    Args:
        fps: frame rate of a folder or array (default 30); a file's own rate is used.
        timeout: seconds a live input may take to open, or stay silent while read.
        options: FFmpeg options of the input (e.g. ``{"rtsp_transport": "tcp"}``, a
            camera's ``video_size``); for a live input they override the small probe.

    Raises:
        VideoReadError: naming the input when it is missing or cannot be opened.
    """
    if isinstance(video, VideoSource):
        return video
    rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(DEFAULT_FPS)
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        kind = live_kind(path)
        if kind is not None:
            try:
                target = live_target(path, kind, timeout)
            except ValueError as e:
                raise VideoReadError(str(e)) from None
            return _PyAVSource(path, live=target, timeout=timeout, options=options)
        if os.path.isdir(path):
            return _FolderSource(path, rate)
        if not os.path.isfile(path):
            raise VideoReadError(f"input not found: {path}")
        return _PyAVSource(path, options=options)
    return _ArraySource(np.asarray(video), rate)


class ThreadedFrameReader:
    """Decode a source in a background thread into a bounded queue.

    Iterating yields :class:`DecodedFrame` in order; a decoder error is raised
    in the iterating thread. ``stats`` counts frames, problems and decoder time.
    A live source's decoder never waits for the consumer: a frame that finds
    the queue full is dropped (``stats.dropped``).

    Args:
        source: from :func:`open_video`.
        transform: applied to each frame in the decoder thread (e.g. the
            test-time resize), stored as ``model_image``.
        queue_size: most decoded frames waiting in the queue (default 32; a
            live source's: ``LIVE_QUEUE_SECONDS`` of frames).
    """

    _END = object()

    def __init__(self, source: VideoSource, transform: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 queue_size: Optional[int] = None):
        self.source = source
        self.info = source.info
        self.stats = DecodeStats()
        self._transform = transform
        self._live = source.info.live
        if queue_size is None:
            queue_size = max(32, int(LIVE_QUEUE_SECONDS * float(source.info.fps))) if self._live else 32
        self._queue_size = queue_size
        self._queue: "queue.Queue" = queue.Queue(maxsize=0 if self._live else queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="woo-video-decoder", daemon=True)

    def _put(self, item) -> bool:
        if self._live:
            if isinstance(item, DecodedFrame) and self._queue.qsize() >= self._queue_size:
                self.stats.dropped += 1
            else:
                self._queue.put(item)
            return not self._stop.is_set()
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
            for index, (seconds, image, arrival) in enumerate(self.source.frames(self.stats)):
                model_image = self._transform(image) if self._transform else image
                self.stats.decoded += 1
                self.stats.seconds += time.perf_counter() - start
                if not self._put(DecodedFrame(index, seconds, image, model_image, arrival)):
                    return
                start = time.perf_counter()
            self._put(self._END)
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(e)
        finally:
            self.source.close()

    def __iter__(self) -> Iterator[DecodedFrame]:
        return self.frames()

    def frames(self, tick: Optional[float] = None) -> Iterator[Optional[DecodedFrame]]:
        """The decoded frames in order; with ``tick``, also None whenever ``tick`` seconds
        pass without one (so that the consumer can do other work while a live source is quiet).

        A live source silent for its timeout plus ``WATCHDOG_GRACE`` seconds ends the
        iteration (``stats.stopped`` says why) even where FFmpeg cannot interrupt its read.
        """
        watchdog = self.source.timeout + WATCHDOG_GRACE if self._live and self.source.timeout else None
        self._thread.start()
        last = time.monotonic()
        try:
            while True:
                wait = tick if watchdog is None else min(tick or watchdog, max(last + watchdog - time.monotonic(), 0))
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    if watchdog is not None and time.monotonic() - last >= watchdog:
                        self.stats.stopped = f"{self.info.name} sent no frame for {watchdog:g} s"
                        return
                    if tick is not None:
                        yield None
                    continue
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                last = time.monotonic()
                yield item
        finally:
            self._stop.set()
            # A live source's decoder may sit in a read until its timeout; it stops by itself then.
            self._thread.join(timeout=1.0 if self._live else None)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
