"""Key-frame record -> model input: decode the clip, resize, flip, move the boxes."""
from typing import Dict, Sequence

import numpy as np
import torch

from woo.formats.boxes import boxes_to_pixels

from .clip_sampling import clip_frame_indices
from .frames import decode_reduction, read_frames
from .transforms import (
    check_input_format,
    hflip_boxes,
    hflip_clip,
    resized_shape,
    sample_short_side,
)

__all__ = ["ClipMapper"]


class ClipMapper:
    """Turn a key-frame record into the model's input dict.

    Input: a record of :mod:`woo.data.records`. Output: ``clip`` (3, T, H, W) uint8, channels in
    the order ``image_format`` names (``INPUT.FORMAT``: "RGB", or "BGR" as detectron2's ``DatasetMapper``),
    ``image_size`` (H, W), ``height``/``width`` (original), ``video_id``, ``timestamp``,
    ``gt_boxes`` (K, 4) float32 pixels of the resized clip, ``gt_actions`` (K, C) float32.

    The clip's size follows from the record's ``height``/``width``, so JPEG frames are
    decoded at 1/2, 1/4 or 1/8 of their size when that is still at least the clip's size
    (libjpeg's DCT scaling: a 720p AVA frame resized to a short side of 256 to 320 is decoded
    at 640x360, in about half the time), then resized (bilinear from there:
    :func:`woo.data.transforms.resize_frame`). Boxes are normalized, so they do not depend
    on the size decoded.
    """

    def __init__(
        self,
        is_train: bool,
        *,
        num_frames: int,
        sampling_rate: int,
        min_size: Sequence[int],
        max_size: int,
        min_size_sampling: str = "choice",
        random_flip: bool = False,
        key_frame_only: bool = False,
        image_format: str = "RGB",
    ):
        """
        Args:
            is_train: sample a short side per clip and flip at random.
            num_frames: T, frames per clip.
            sampling_rate: tau, stride between clip frames.
            min_size: training: short-side range or choices; test: one size.
            max_size: largest long side.
            min_size_sampling: "range" or "choice" (training only).
            random_flip: flip half of the training clips left-right.
            key_frame_only: ablation without motion: every frame of the clip is the key frame.
            image_format: channel order of the clip, "RGB" or "BGR" (``INPUT.FORMAT``).
        """
        self.is_train = is_train
        self.num_frames = int(num_frames)
        self.sampling_rate = int(sampling_rate)
        self.min_size = tuple(int(s) for s in min_size)
        self.max_size = int(max_size)
        self.min_size_sampling = min_size_sampling if is_train else "choice"
        self.random_flip = bool(random_flip) and is_train
        self.key_frame_only = bool(key_frame_only)
        self.image_format = check_input_format(image_format)
        if not is_train and len(self.min_size) != 1:
            raise ValueError(f"test-time min_size must be one size, got {self.min_size}")

    @classmethod
    def from_config(cls, cfg, is_train: bool) -> "ClipMapper":
        if is_train:
            min_size = cfg.INPUT.MIN_SIZE_TRAIN
            min_size = (min_size,) if isinstance(min_size, int) else min_size
            size_args = dict(
                min_size=min_size,
                max_size=cfg.INPUT.MAX_SIZE_TRAIN,
                min_size_sampling=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
                random_flip=_flip_enabled(cfg.INPUT.RANDOM_FLIP),
            )
        else:
            size_args = dict(min_size=(cfg.INPUT.MIN_SIZE_TEST,), max_size=cfg.INPUT.MAX_SIZE_TEST)
        return cls(
            is_train,
            num_frames=cfg.INPUT.NUM_FRAMES,
            sampling_rate=cfg.INPUT.SAMPLING_RATE,
            key_frame_only=cfg.INPUT.KEY_FRAME_ONLY,
            image_format=cfg.INPUT.FORMAT,
            **size_args,
        )

    def __call__(self, record: Dict) -> Dict:
        frame_paths: Sequence[str] = record["frame_paths"]
        key_index = record["key_frame_index"]
        if self.key_frame_only:
            paths = [frame_paths[key_index]]
        else:
            indices = clip_frame_indices(key_index, self.num_frames, self.sampling_rate, len(frame_paths))
            paths = [frame_paths[i] for i in indices]
        height, width = int(record["height"]), int(record["width"])
        short_side = sample_short_side(self.min_size, self.min_size_sampling) if self.is_train else self.min_size[0]
        new_h, new_w = resized_shape(height, width, short_side, self.max_size)
        reduction = decode_reduction(paths, (height, width), (new_h, new_w))
        frames = read_frames(paths, reduction, size=(new_h, new_w), full_size=(height, width))
        if self.key_frame_only:
            frames = np.repeat(frames, self.num_frames, axis=0)
        boxes = record["boxes"]
        if self.random_flip and bool(torch.rand(()) < 0.5):
            frames = hflip_clip(frames)
            boxes = hflip_boxes(boxes, 1.0)
        clip = torch.from_numpy(frames).permute(3, 0, 1, 2)  # (T,H,W,3) RGB -> (3,T,H,W)
        if self.image_format == "BGR":
            clip = clip.flip(0)
        clip = clip.contiguous()
        return {
            "clip": clip,
            "image_size": (new_h, new_w),
            "height": record["height"],
            "width": record["width"],
            "video_id": record["video_id"],
            "timestamp": record["timestamp"],
            "gt_boxes": torch.from_numpy(boxes_to_pixels(boxes, new_h, new_w).astype(np.float32)),
            "gt_actions": torch.from_numpy(np.asarray(record["actions"], dtype=np.float32)),
        }


def _flip_enabled(value: str) -> bool:
    if value not in ("horizontal", "none"):
        raise ValueError(f"INPUT.RANDOM_FLIP must be 'horizontal' or 'none', got {value!r}")
    return value == "horizontal"
