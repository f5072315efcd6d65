"""Key frames and their clips by time, over a stream of decoded frames.

AVA models are trained on 30 FPS frames: clip frame ``i`` of a key frame at
``t`` seconds lies at ``t + (i - T // 2) * tau / 30`` seconds (the convention of
:func:`woo.data.clip_sampling.clip_frame_indices`, with time in place of frame
index), and takes the decoded frame nearest that time. A 25 or 29.97 FPS video
is thus resampled by timestamp, not by frame index. Times before the first or
after the last frame take that frame, so a video shorter than one clip repeats
its edge frames. Only frames that a clip still to come needs are kept.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .video_reader import DecodedFrame

__all__ = ["KeyClip", "StreamingClipSampler", "MODEL_FPS"]

# The frame rate AVA models (and the synthetic set) are trained at.
MODEL_FPS = 30.0


@dataclass
class KeyClip:
    """The clip of one key frame.

    Attributes:
        time: key frame time in seconds.
        frame_index: index of the decoded frame nearest ``time``.
        frames: (T, h, w, 3) the frames' ``model_image``.
        arrival: wall-clock arrival of that decoded frame (a live input's), else None.
    """

    time: float
    frame_index: int
    frames: np.ndarray
    arrival: Optional[float] = None


class StreamingClipSampler:
    """Turns decoded frames, pushed in order, into key-frame clips as soon as they are complete.

    Args:
        num_frames: T, frames per clip.
        sampling_rate: tau, stride between clip frames in frames at ``model_fps``.
        key_stride: seconds between key frames, from 0 s; 0 makes every frame a key frame.
        model_fps: the frame rate the model was trained at.
    """

    def __init__(self, *, num_frames: int, sampling_rate: int, key_stride: float, model_fps: float = MODEL_FPS):
        if num_frames < 1 or sampling_rate < 1:
            raise ValueError(f"num_frames and sampling_rate must be >= 1, got {num_frames}, {sampling_rate}")
        if key_stride < 0:
            raise ValueError(f"key stride must be >= 0 seconds, got {key_stride}")
        self.key_stride = float(key_stride)
        self.offsets = (np.arange(num_frames) - num_frames // 2) * (sampling_rate / model_fps)  # (T,) seconds
        self._times: List[float] = []
        self._frames: List[DecodedFrame] = []
        self._pending_keys: List[float] = []  # every-frame mode: times of frames not yet emitted
        self._next_key = 0  # stride mode: index of the next key frame
        self.max_buffered = 0

    @property
    def lookahead(self) -> float:
        """Seconds after a key frame that its clip reaches: a live key frame's clip is complete
        only once a frame this late has arrived."""
        return float(self.offsets[-1])

    def _next_key_time(self) -> float:
        if self.key_stride == 0:
            return self._pending_keys[0] if self._pending_keys else float("inf")
        return self._next_key * self.key_stride

    def _advance(self) -> None:
        if self.key_stride == 0:
            self._pending_keys.pop(0)
        else:
            self._next_key += 1

    def _nearest(self, seconds: np.ndarray) -> np.ndarray:
        """Buffer positions of the frames nearest ``seconds`` (clamped at the buffer's ends)."""
        times = np.asarray(self._times)
        right = np.clip(np.searchsorted(times, seconds), 0, len(times) - 1)
        left = np.clip(right - 1, 0, len(times) - 1)
        return np.where(np.abs(times[left] - seconds) <= np.abs(times[right] - seconds), left, right)

    def _clip(self, key_time: float) -> KeyClip:
        positions = self._nearest(key_time + self.offsets)
        key_position = int(self._nearest(np.asarray([key_time]))[0])
        frames = np.stack([self._frames[p].model_image for p in positions])
        key_frame = self._frames[key_position]
        return KeyClip(time=key_time, frame_index=key_frame.index, frames=frames, arrival=key_frame.arrival)

    def _prune(self) -> None:
        """Drop frames no clip to come can need: all before the last one at or before
        the earliest time the next key frame's clip asks for."""
        earliest = self._next_key_time() + self.offsets[0]
        keep_from = max(int(np.searchsorted(self._times, earliest, side="right")) - 1, 0)
        del self._times[:keep_from], self._frames[:keep_from]

    def push(self, frame: DecodedFrame) -> List[KeyClip]:
        """Add the next decoded frame; returns the clips it completes, in time order."""
        if self._times and frame.time <= self._times[-1]:
            raise ValueError(f"frame {frame.index} at {frame.time:.4f} s does not follow {self._times[-1]:.4f} s")
        self._times.append(frame.time)
        self._frames.append(frame)
        if self.key_stride == 0:
            self._pending_keys.append(frame.time)
        ready = []
        # A clip is complete once a frame at or after its last sampling time has arrived.
        while self._next_key_time() <= frame.time and self._next_key_time() + self.offsets[-1] <= frame.time:
            ready.append(self._clip(self._next_key_time()))
            self._advance()
        self.max_buffered = max(self.max_buffered, len(self._frames))
        self._prune()
        return ready

    def finish(self) -> List[KeyClip]:
        """At the end of the stream: the clips of the remaining key frames, clamped at the end."""
        ready = []
        last = self._times[-1] if self._times else -1.0
        while self._next_key_time() <= last + 1e-9:
            ready.append(self._clip(self._next_key_time()))
            self._advance()
        self._times, self._frames = [], []
        return ready
