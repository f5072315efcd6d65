"""Checks of what the model is given, so that a wrong input gets an error that
says what the model takes instead of a failure deep inside a layer."""
import warnings
from typing import Any

import torch

__all__ = ["INPUT_CONTRACT", "check_batched_inputs"]

INPUT_CONTRACT = (
    "WOO takes a list of dicts, one per clip: {'clip': (3, T, H, W) RGB tensor with values "
    "0..255, 'image_size': (H, W)} (plus 'gt_boxes' and 'gt_actions' in training)"
)


def check_batched_inputs(batched_inputs: Any, num_frames: int) -> None:
    """Raise on inputs the model cannot take; warn on clips that look scaled to 0..1.

    Args:
        batched_inputs: what was passed to the model: a list of dicts whose
            ``clip`` is (3, T, H, W) with T = ``num_frames``.
        num_frames: T, ``INPUT.NUM_FRAMES``.

    Raises:
        TypeError: not a list of dicts, or a clip that is not a tensor or array.
        ValueError: an empty list, a missing ``clip``, a clip of the wrong shape
            or with no pixels, or a clip with NaN or infinite values.
    """
    if isinstance(batched_inputs, dict) or not isinstance(batched_inputs, (list, tuple)):
        raise TypeError(f"{INPUT_CONTRACT}; got a {type(batched_inputs).__name__}")
    if not batched_inputs:
        raise ValueError(f"{INPUT_CONTRACT}; got an empty list")
    for i, item in enumerate(batched_inputs):
        if not isinstance(item, dict):
            raise TypeError(f"input {i}: {INPUT_CONTRACT}; got a {type(item).__name__}")
        if "clip" not in item:
            raise ValueError(f"input {i} has no 'clip': {INPUT_CONTRACT}")
        clip = item["clip"]
        if not isinstance(clip, torch.Tensor):
            try:
                clip = torch.as_tensor(clip)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"input {i}: 'clip' is a {type(clip).__name__}; {INPUT_CONTRACT}") from None
        shape = tuple(clip.shape)
        if clip.dim() != 4 or shape[0] != 3 or shape[1] != num_frames or shape[2] < 1 or shape[3] < 1:
            raise ValueError(
                f"input {i}: 'clip' must be (3, T={num_frames} (INPUT.NUM_FRAMES), H, W) with H, W >= 1, "
                f"got {shape}; {INPUT_CONTRACT}"
            )
        if clip.is_floating_point():
            if not torch.isfinite(clip).all():
                raise ValueError(f"input {i}: 'clip' has NaN or infinite values")
            low, high = float(clip.min()), float(clip.max())
            if low >= 0.0 and 0.0 < high <= 1.0:
                warnings.warn(
                    f"input {i}: 'clip' values lie in [{low:.3g}, {high:.3g}]; the model expects 0..255 "
                    "RGB (a clip scaled to 0..1 gives meaningless detections): multiply by 255",
                    stacklevel=3,
                )
