"""Drawing detections on frames, and writing H.264 video with PyAV's bundled libx264.

:func:`draw_actions` is independent of where boxes come from (core model,
detectron2 ``Instances`` converted to arrays), so every front end can share it.
"""
from fractions import Fraction
from typing import Optional, Sequence

import av
import cv2
import numpy as np

__all__ = ["track_color", "action_labels", "draw_actions", "H264Writer"]

# Distinct, saturated RGB colours (Tableau 10), cycled by track id.
_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def track_color(track_id: int) -> tuple:
    """RGB colour of a track (a negative id, i.e. no track, is white)."""
    return (255, 255, 255) if track_id < 0 else _COLORS[int(track_id) % len(_COLORS)]


def action_labels(scores: np.ndarray, class_names: Sequence[str], top_k: int, score_thresh: float) -> list:
    """``"name 0.87"`` for the ``top_k`` best actions scoring at least ``score_thresh``, best first.

    Args:
        scores: (C,) action scores of one actor.
    """
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [f"{class_names[j]} {scores[j]:.2f}" for j in order if scores[j] >= score_thresh]


def draw_actions(image: np.ndarray, boxes: np.ndarray, track_ids: Sequence[int],
                 labels: Sequence[Sequence[str]]) -> np.ndarray:
    """Draw boxes with a title (``#id``) and one line per label, in place.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (M, 4) pixel boxes x1y1x2y2.
        track_ids: (M,) colour and title of each box.
        labels: per box, the lines of text under its title.

    Returns:
        ``image``.
    """
    height = image.shape[0]
    scale = float(np.clip(height / 600.0, 0.3, 1.2))
    thickness = max(1, int(round(height / 360.0)))
    line_h = int(22 * scale) + 2
    for box, track_id, lines in zip(np.asarray(boxes).reshape(-1, 4), track_ids, labels):
        color = track_color(int(track_id))
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
        text = [f"#{track_id}"] + list(lines)
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, 1)[0][0] for t in text) + 4
        # Text above the box when there is room, else inside it from the top.
        top = y1 - line_h * len(text) if y1 - line_h * len(text) >= 0 else y1
        overlay = image[max(top, 0):top + line_h * len(text), max(x1, 0):x1 + width]
        overlay[:] = (overlay * 0.35 + np.asarray(color) * 0.65).astype(np.uint8)
        for i, t in enumerate(text):
            cv2.putText(image, t, (x1 + 2, top + line_h * (i + 1) - 4), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return image


class H264Writer:
    """Write RGB frames as H.264 (yuv420p) with PyAV's own libx264, no system ffmpeg.

    yuv420p needs even sizes: an odd width or height is padded by one
    replicated pixel column or row.

    Args:
        path: output file; the container follows its extension unless ``container`` is given.
        width / height: frame size.
        fps: frame rate, e.g. ``Fraction(30000, 1001)``.
        container: muxer name ("mp4"), for paths without the extension.
        crf: x264 quality (lower is better; 23 is x264's default).
    """

    def __init__(self, path: str, *, width: int, height: int, fps: Fraction,
                 container: Optional[str] = None, crf: int = 23):
        self.width, self.height = width, height
        self._output = av.open(path, mode="w", format=container)
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._output.add_stream("libx264", rate=rate)
        self._stream.width = width + width % 2
        self._stream.height = height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = 1 / rate
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._frames = 0

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame of {image.shape[:2]}, the video is {(self.height, self.width)}")
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self._frames
        self._frames += 1
        self._output.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._output.mux(self._stream.encode(None))
        self._output.close()
