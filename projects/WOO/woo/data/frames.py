"""Frames on disk: decoding a clip's JPEG/PNG frames, and a frame's size from its header."""
import os
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = ["read_frames", "frame_size"]


def read_frames(paths: Sequence[str]) -> np.ndarray:
    """Decode JPEG frames with OpenCV.

    Returns:
        (T, H, W, 3) uint8 RGB; a path listed twice is decoded once.

    Raises:
        FileNotFoundError / OSError: naming the missing or undecodable frame,
            or a frame whose size differs from the clip's first frame.
    """
    decoded: Dict[str, np.ndarray] = {}
    for path in paths:
        if path in decoded:
            continue
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"missing frame {path}")
            raise OSError(f"cannot decode frame {path} (corrupt or not an image)")
        decoded[path] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    frames = [decoded[p] for p in paths]
    for path, frame in zip(paths, frames):
        if frame.shape != frames[0].shape:
            raise OSError(f"frame {path} is {frame.shape[:2]}, other frames of the clip {frames[0].shape[:2]}")
    return np.stack(frames)


def frame_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, reading only its header."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, ValueError) as e:
        raise OSError(f"cannot read frame {path}: {e}") from None
    return height, width
