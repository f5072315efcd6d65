"""Clip resizing and flipping, with the boxes following every transform.

The same transform applies to every frame of a clip, so an actor's box on the
key frame stays valid for the temporal features pooled from other frames.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np
import torch

__all__ = ["INPUT_FORMATS", "check_input_format", "sample_short_side", "resized_shape", "resize_frame", "resize_clip",
           "hflip_clip", "hflip_boxes"]

# Channel orders a model may take (``INPUT.FORMAT``, as in detectron2); frames are decoded as RGB.
INPUT_FORMATS = ("RGB", "BGR")


def check_input_format(value: str) -> str:
    """``INPUT.FORMAT`` checked: "RGB" or "BGR" (detectron2's default; ``MODEL.PIXEL_MEAN`` follows it)."""
    if value not in INPUT_FORMATS:
        raise ValueError(f"INPUT.FORMAT must be one of {INPUT_FORMATS}, got {value!r}")
    return value


def sample_short_side(sizes: Sequence[int], sampling: str, generator: torch.Generator = None) -> int:
    """Short side of one training clip.

    Args:
        sizes: ``(min, max)`` with ``sampling="range"``, candidates with ``"choice"``.
        sampling: "range" (uniform integer in [min, max]) or "choice".
        generator: torch generator; None uses torch's global one (seeded per
            DataLoader worker).
    """
    if sampling == "range":
        if len(sizes) != 2:
            raise ValueError(f"'range' sampling needs (min, max) sizes, got {tuple(sizes)}")
        return int(torch.randint(int(sizes[0]), int(sizes[1]) + 1, (1,), generator=generator))
    if sampling == "choice":
        return int(sizes[int(torch.randint(len(sizes), (1,), generator=generator))])
    raise ValueError(f"short-side sampling must be 'range' or 'choice', got {sampling!r}")


def resized_shape(height: int, width: int, short_side: int, max_size: int) -> Tuple[int, int]:
    """(new_height, new_width) with the short side ``short_side``, long side at most ``max_size``."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_frame(frame: np.ndarray, size: Tuple[int, int], *, reduced: bool = False) -> np.ndarray:
    """Resize an (H, W, C) uint8 frame to ``size = (H', W')``.

    Area averaging avoids aliasing when shrinking; bilinear when enlarging, and after a reduced
    JPEG decode (``reduced``), whose DCT scaling has already averaged the frame down to less
    than twice the size: bilinear is then as close to a full decode with area averaging, and
    several times faster.
    """
    new_h, new_w = size
    if frame.shape[:2] == (new_h, new_w):
        return frame
    shrink = new_h * new_w < frame.shape[0] * frame.shape[1]
    interp = cv2.INTER_AREA if shrink and not reduced else cv2.INTER_LINEAR
    return cv2.resize(frame, (new_w, new_h), interpolation=interp)


def resize_clip(frames: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize every frame of (T, H, W, 3) uint8 ``frames`` to ``size = (H', W')`` (:func:`resize_frame`)."""
    if frames.shape[1:3] == tuple(size):
        return frames
    return np.stack([resize_frame(f, size) for f in frames])


def hflip_clip(frames: np.ndarray) -> np.ndarray:
    """Mirror (T, H, W, 3) ``frames`` left-right."""
    return np.ascontiguousarray(frames[:, :, ::-1])


def hflip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Mirror (K, 4) x1y1x2y2 boxes in an image ``width`` wide (1.0 for normalized boxes)."""
    flipped = boxes.copy()
    flipped[:, 0] = width - boxes[:, 2]
    flipped[:, 2] = width - boxes[:, 0]
    return flipped

