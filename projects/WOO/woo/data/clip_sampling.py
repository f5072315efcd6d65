"""Which frames of a video make the clip of a key frame."""
import numpy as np

__all__ = ["clip_frame_indices"]


def clip_frame_indices(key_index: int, num_frames: int, sampling_rate: int, video_length: int) -> np.ndarray:
    """Frame indices of a clip centred on a key frame, clamped at the video edges.

    Frame ``i`` of the clip is ``key_index + (i - num_frames // 2) * sampling_rate``,
    so the key frame sits at clip position ``num_frames // 2`` (the paper's
    ``t = floor(T / 2)``). With a SlowFast pathway ratio ``alpha`` dividing
    ``num_frames // 2``, the slow pathway ``clip[:, ::alpha]`` keeps the key
    frame at its own middle position. Indices before the first frame repeat
    frame 0 and indices past the last frame repeat the last frame, as a
    video that freezes at its ends.

    Args:
        key_index: 0-based index of the key frame.
        num_frames: T, frames in the clip.
        sampling_rate: tau, stride between clip frames in video frames.
        video_length: frames in the video.

    Returns:
        (T,) int64 indices in ``[0, video_length - 1]``.
    """
    if not 0 <= key_index < video_length:
        raise ValueError(f"key frame {key_index} outside a video of {video_length} frames")
    if num_frames < 1 or sampling_rate < 1:
        raise ValueError(f"num_frames and sampling_rate must be >= 1, got {num_frames}, {sampling_rate}")
    offsets = (np.arange(num_frames, dtype=np.int64) - num_frames // 2) * sampling_rate
    return np.clip(key_index + offsets, 0, video_length - 1)
