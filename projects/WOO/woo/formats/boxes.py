"""Box coordinates between conventions: normalized to the frame (AVA's CSVs, the records),
pixels of a frame (the model, the demo), pixels of another size (resized clips).

Boxes are ``(..., 4)`` ``x1, y1, x2, y2``, numpy arrays or torch tensors; the result has
the type, dtype and device of the input.
"""
from typing import Sequence, Tuple, TypeVar

import numpy as np
import torch

__all__ = ["boxes_to_pixels", "boxes_to_unit", "rescale_boxes"]

Boxes = TypeVar("Boxes", np.ndarray, torch.Tensor)


def _factors(boxes: Boxes, values: Sequence[float]) -> Boxes:
    if isinstance(boxes, torch.Tensor):
        return boxes.new_tensor(values)
    return np.asarray(values, dtype=boxes.dtype if np.issubdtype(boxes.dtype, np.floating) else np.float64)


def boxes_to_pixels(boxes: Boxes, height: float, width: float) -> Boxes:
    """Normalized boxes as pixels of a ``height`` x ``width`` frame."""
    return boxes * _factors(boxes, [width, height, width, height])


def boxes_to_unit(boxes: Boxes, height: float, width: float) -> Boxes:
    """Pixel boxes of a ``height`` x ``width`` frame as normalized boxes (not clipped)."""
    return boxes / _factors(boxes, [width, height, width, height])


def rescale_boxes(boxes: Boxes, from_size: Tuple[float, float], to_size: Tuple[float, float]) -> Boxes:
    """Pixel boxes of a frame of ``from_size`` (H, W) as pixels of the same frame at ``to_size`` (H, W)."""
    (from_h, from_w), (to_h, to_w) = from_size, to_size
    return boxes * _factors(boxes, [to_w / from_w, to_h / from_h, to_w / from_w, to_h / from_h])
