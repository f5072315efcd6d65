"""Drawing detections on frames, and writing H.264 video with PyAV's bundled libx264.

:func:`draw_actions` is independent of where boxes come from (core model,
detectron2 ``Instances`` converted to arrays), so every front end can share it.
"""
from fractions import Fraction
from typing import List, NamedTuple, Optional, Sequence, Tuple

import av
import cv2
import numpy as np

from .contrast import text_color
from .tab_layout import place_tabs

__all__ = ["track_color", "best_actions", "action_labels", "label_font", "label_tabs", "ActionOverlay", "draw_actions",
           "H264Writer"]

# Label text: a cap height of 1/45 of the frame's shorter side (24 px at 1080p), at least
# MIN_TEXT_HEIGHT, the least at which this font stays legible.
MIN_TEXT_HEIGHT = 12
TEXT_HEIGHT_PER_SIDE = 1 / 45
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_CAP_HEIGHT = 21  # pixels at font scale 1 (its "H")

# Distinct, saturated RGB colours (Tableau 10), cycled by track id.
_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def track_color(track_id: int) -> tuple:
    """RGB colour of a track (a negative id, i.e. no track, is white)."""
    return (255, 255, 255) if track_id < 0 else _COLORS[int(track_id) % len(_COLORS)]


def best_actions(scores: np.ndarray, top_k: int, score_thresh: float) -> List[int]:
    """Columns of the ``top_k`` best actions scoring at least ``score_thresh``, best first.

    Args:
        scores: (C,) action scores of one actor.
    """
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [int(j) for j in order if scores[j] >= score_thresh]


def action_labels(scores: np.ndarray, class_names: Sequence[str], top_k: int, score_thresh: float) -> list:
    """``"name 0.87"`` for the ``top_k`` best actions scoring at least ``score_thresh``, best first.

    Args:
        scores: (C,) action scores of one actor.
    """
    return [f"{class_names[j]} {scores[j]:.2f}" for j in best_actions(scores, top_k, score_thresh)]


class LabelFont(NamedTuple):
    """Sizes of the label text for one frame size, in pixels (``scale`` is OpenCV's font scale)."""

    scale: float
    thickness: int
    text_height: int  # cap height
    pad: int  # between the text and the tab's edges
    line_height: int  # baseline to baseline
    descent: int  # below the baseline (g, p, y)


def label_font(frame_size: Tuple[int, int]) -> LabelFont:
    """The label font for a ``(width, height)`` frame: it grows with the frame's shorter side,
    never below ``MIN_TEXT_HEIGHT`` (24 px at 1080p, 16 at 720p, 12 at 480p and smaller)."""
    text_h = max(MIN_TEXT_HEIGHT, int(round(min(frame_size) * TEXT_HEIGHT_PER_SIDE)))
    descent = int(np.ceil(0.35 * text_h))
    return LabelFont(scale=text_h / _FONT_CAP_HEIGHT, thickness=max(1, int(round(text_h / 16))), text_height=text_h,
                     pad=max(2, int(round(text_h / 4))), line_height=text_h + descent + max(1, int(round(text_h / 6))),
                     descent=descent)


def _tab_size(font: LabelFont, lines: Sequence[str]) -> Tuple[int, int]:
    """(width, height) of a tab holding ``lines``."""
    width = max(cv2.getTextSize(t, _FONT, font.scale, font.thickness)[0][0] for t in lines)
    return 2 * font.pad + width, 2 * font.pad + font.text_height + font.descent + (len(lines) - 1) * font.line_height


class LabelTab(NamedTuple):
    """One box's label tab: where it goes and what it shows."""

    rect: Tuple[int, int, int, int]  # x1y1x2y2 in the frame, x2 and y2 excluded
    color: Tuple[int, int, int]  # RGB fill, the track's colour
    text_color: Tuple[int, int, int]  # black or white, whichever contrasts more with ``color``
    lines: List[str]


def label_tabs(frame_size: Tuple[int, int], boxes: np.ndarray, track_ids: Sequence[int],
               labels: Sequence[Sequence[str]]) -> List[LabelTab]:
    """The tabs :func:`draw_actions` draws: ``#id`` and the first label on one line, one line per
    further label, placed by :func:`woo.inference.tab_layout.place_tabs`.

    Args:
        frame_size: (width, height).
        boxes / track_ids / labels: as for :func:`draw_actions`.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes) == len(track_ids) == len(labels):
        raise ValueError(f"{len(boxes)} boxes, {len(track_ids)} track ids and {len(labels)} label lists: "
                         "give one of each per box")
    font = label_font(frame_size)
    lines = [[" ".join([f"#{track_id}"] + list(texts[:1]))] + list(texts[1:])
             for track_id, texts in zip(track_ids, labels)]
    sizes = [_tab_size(font, text) for text in lines]
    rects = place_tabs(boxes, sizes, frame_size)
    tabs = []
    for rect, track_id, text in zip(rects, track_ids, lines):
        color = track_color(int(track_id))
        tabs.append(LabelTab(tuple(int(v) for v in rect), color, text_color(color), text))
    return tabs


class ActionOverlay:
    """One key frame's boxes and label tabs, laid out and rendered once, to draw on many frames.

    Args:
        frame_size: (width, height) of the frames it is drawn on.
        boxes / track_ids / labels: as for :func:`draw_actions`.
    """

    def __init__(self, frame_size: Tuple[int, int], boxes: np.ndarray, track_ids: Sequence[int],
                 labels: Sequence[Sequence[str]]):
        self.frame_size = tuple(int(v) for v in frame_size)
        self.tabs = label_tabs(self.frame_size, boxes, track_ids, labels)
        self._boxes = [(tuple(int(round(v)) for v in box), track_color(int(track_id)))
                       for box, track_id in zip(np.asarray(boxes).reshape(-1, 4), track_ids)]
        font = label_font(self.frame_size)
        self._canvases = []
        for tab in self.tabs:
            # Each tab is drawn whole on its own canvas and pasted: nothing of the frame shows through.
            w, h = _tab_size(font, tab.lines)
            canvas = np.empty((h, w, 3), dtype=np.uint8)
            canvas[:] = tab.color
            for i, line in enumerate(tab.lines):
                cv2.putText(canvas, line, (font.pad, font.pad + font.text_height + i * font.line_height), _FONT,
                            font.scale, tab.text_color, font.thickness, cv2.LINE_AA)
            x1, y1, x2, y2 = tab.rect
            self._canvases.append(canvas[:y2 - y1, :x2 - x1])

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Draw on ``image``, (H, W, 3) uint8 RGB of ``frame_size``, in place; returns it."""
        if image.shape[1::-1] != self.frame_size:
            raise ValueError(f"a frame of {image.shape[1]}x{image.shape[0]}, the overlay is for "
                             f"{self.frame_size[0]}x{self.frame_size[1]}")
        thickness = max(1, int(round(image.shape[0] / 360.0)))
        for (x1, y1, x2, y2), color in self._boxes:
            cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
        # Last placed first: a tab that found no free spot goes under the ones placed before it.
        for tab, canvas in zip(reversed(self.tabs), reversed(self._canvases)):
            x1, y1, x2, y2 = tab.rect
            image[y1:y2, x1:x2] = canvas
        return image


def draw_actions(image: np.ndarray, boxes: np.ndarray, track_ids: Sequence[int],
                 labels: Sequence[Sequence[str]]) -> np.ndarray:
    """Draw boxes with an opaque label tab each (``#id`` and the labels), in place.

    Tabs sit next to their boxes without covering each other (:func:`label_tabs`); where the
    frame has no free room left for a tab it goes under the tabs placed before it. To draw
    the same boxes on many frames, build an :class:`ActionOverlay` once.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (M, 4) pixel boxes x1y1x2y2.
        track_ids: (M,) colour and title of each box.
        labels: per box, the lines of text after its title.

    Returns:
        ``image``.
    """
    return ActionOverlay(image.shape[1::-1], boxes, track_ids, labels).draw(image)


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
        self._rate = rate
        self._pts = -1

    def write(self, image: np.ndarray, time: Optional[float] = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame, shown at ``time`` seconds (on the frame grid of
        ``fps``; the next slot when that one is taken), or right after the previous one."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame of {image.shape[:2]}, the video is {(self.height, self.width)}")
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        # A live input's frames keep their timing: gaps stay gaps, a late frame takes the next slot.
        slot = self._pts + 1 if time is None else int(round(time * self._rate))
        self._pts = frame.pts = max(slot, self._pts + 1)
        self._output.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._output.mux(self._stream.encode(None))
        self._output.close()
