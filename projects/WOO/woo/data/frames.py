"""Frames on disk: decoding a clip's JPEG/PNG frames (at reduced size when the clip is shrunk
anyway), and a frame's size from its header."""
import os
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from .transforms import resize_frame

__all__ = ["read_frames", "frame_size", "decode_reduction", "reduced_size"]

# libjpeg decodes a JPEG at 1/2, 1/4 or 1/8 of its size by scaling the DCT, for a fraction of the work.
_IMREAD_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}
_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")


def decode_reduction(paths: Sequence[str], size: Tuple[int, int], target: Tuple[int, int]) -> int:
    """The largest factor r in 1, 2, 4, 8 by which JPEG ``paths`` of ``size = (H, W)`` can be decoded
    and still be at least ``target = (H', W')`` (so the resize after it only shrinks); 1 for
    frames in other formats (OpenCV would decode them whole and resize)."""
    if not all(str(p).lower().endswith(_JPEG_SUFFIXES) for p in paths):
        return 1
    height, width = size
    for factor in (8, 4, 2):
        if height // factor >= target[0] and width // factor >= target[1]:
            return factor
    return 1


def reduced_size(size: Tuple[int, int], reduction: int) -> Tuple[int, int]:
    """(H, W) of a JPEG of ``size`` decoded at 1/``reduction``: libjpeg rounds up."""
    return -(-size[0] // reduction), -(-size[1] // reduction)


def read_frames(paths: Sequence[str], reduction: int = 1, *, size: Optional[Tuple[int, int]] = None,
                full_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Decode a clip's frames with OpenCV, at 1/``reduction`` of their size (1, 2, 4 or 8; see
    :func:`decode_reduction`), optionally resized to ``size`` frame by frame.

    Args:
        paths: the clip's frames; a path listed twice is decoded once.
        reduction: libjpeg's DCT scaling factor (JPEG frames).
        size: ``(H', W')`` to resize each frame to (:func:`woo.data.transforms.resize_frame`), before
            its colour conversion; None keeps the decoded size.
        full_size: ``(H, W)`` every frame must have on disk (checked on the decoded size); None: the
            frames must only agree with each other.

    Returns:
        (T, H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError / OSError: naming the missing or undecodable frame, or a frame whose size
            differs from ``full_size`` or from the clip's first frame.
    """
    if reduction not in _IMREAD_FLAGS:
        raise ValueError(f"reduction must be 1, 2, 4 or 8, got {reduction}")
    expected = reduced_size(full_size, reduction) if full_size is not None else None
    decoded: Dict[str, np.ndarray] = {}
    for path in paths:
        if path in decoded:
            continue
        image = cv2.imread(path, _IMREAD_FLAGS[reduction])
        if image is None:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"missing frame {path}")
            raise OSError(f"cannot decode frame {path} (corrupt or not an image)")
        expected = expected or image.shape[:2]
        if image.shape[:2] != tuple(expected):
            if full_size is not None:
                raise OSError(f"frame {path} is not {full_size[0]}x{full_size[1]} (HxW), its video's size "
                              f"(decoded at 1/{reduction}: {image.shape[0]}x{image.shape[1]})")
            raise OSError(f"frame {path} is {image.shape[:2]}, other frames of the clip {tuple(expected)}")
        if size is not None:
            image = resize_frame(image, size, reduced=reduction > 1)
        decoded[path] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.stack([decoded[p] for p in paths])


def frame_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, reading only its header."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, ValueError) as e:
        raise OSError(f"cannot read frame {path}: {e}") from None
    return height, width
