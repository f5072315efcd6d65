"""Where label tabs go: next to their boxes, inside the frame, never on each other when there is room.

Pure geometry (pixel rectangles in, rectangles out), so the placement is tested without drawing.
Rectangles are integer ``x1, y1, x2, y2`` with ``x2`` and ``y2`` excluded: two tabs that share an
edge do not overlap.
"""
from typing import Sequence, Tuple

import numpy as np

__all__ = ["place_tabs"]

# A tab may cover this share of itself with its own box and still count as beside it: a box
# whose top is a little less than a tab's height below the frame's top keeps its tab above,
# pushed a few pixels down onto the box, rather than moved aside.
OWN_BOX_SHARE = 0.25


def _overlap_area(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(K,) total area each of ``rects`` (K, 4) shares with ``others`` (P, 4)."""
    if len(others) == 0:
        return np.zeros(len(rects), dtype=np.int64)
    w = np.minimum(rects[:, None, 2], others[None, :, 2]) - np.maximum(rects[:, None, 0], others[None, :, 0])
    h = np.minimum(rects[:, None, 3], others[None, :, 3]) - np.maximum(rects[:, None, 1], others[None, :, 1])
    return (np.clip(w, 0, None) * np.clip(h, 0, None)).sum(axis=1)


def _preferred(box: np.ndarray, w: int, h: int) -> np.ndarray:
    """(6, 2) top-left corners next to ``box``, best first: above, below (left-aligned), above,
    below (right-aligned), right, left (top-aligned)."""
    x1, y1, x2, y2 = box
    return np.asarray([(x1, y1 - h), (x1, y2), (x2 - w, y1 - h), (x2 - w, y2), (x2, y1), (x1 - w, y1)],
                      dtype=np.float64)


def _everywhere(box: np.ndarray, w: int, h: int, placed: np.ndarray) -> np.ndarray:
    """(K, 2) top-left corners aligned with the frame, ``box`` and the ``placed`` tabs.

    Every free spot can slide left, then up, until it meets the frame's or a placed tab's
    edge, so if a free spot exists one of these is free. Along either axis the overlap with
    the placed tabs is a sum of trapezoids whose slope rises only where the spot's edge meets
    a placed tab's far edge, so the least overlap is at one of these corners too.
    """
    x1, y1, x2, y2 = box
    xs = np.concatenate([[0, np.inf, x1, x2 - w], placed[:, 2], placed[:, 0] - w])
    ys = np.concatenate([[0, np.inf, y1 - h, y2], placed[:, 3], placed[:, 1] - h])
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)


def _choose(corners: np.ndarray, box: np.ndarray, w: int, h: int, placed: np.ndarray,
            frame_w: int, frame_h: int) -> Tuple[np.ndarray, bool]:
    """The best of ``corners`` (moved inside the frame) as a rectangle (4,), and whether it is
    free, beside its box and touching it (no other spot can beat it then)."""
    corners = np.stack([np.clip(corners[:, 0], 0, frame_w - w), np.clip(corners[:, 1], 0, frame_h - h)], axis=1)
    rects = np.concatenate([corners, corners + [w, h]], axis=1).astype(np.int64)
    collision = _overlap_area(rects, placed)
    covers = _overlap_area(rects, box[None]) > OWN_BOX_SHARE * w * h
    dx = np.maximum(0, np.maximum(box[0] - rects[:, 2], rects[:, 0] - box[2]))
    dy = np.maximum(0, np.maximum(box[1] - rects[:, 3], rects[:, 1] - box[3]))
    gap = np.hypot(dx, dy)
    best = np.lexsort((np.arange(len(rects)), gap, covers, collision))[0]
    return rects[best], bool(collision[best] == 0 and not covers[best] and gap[best] == 0)


def place_tabs(boxes: np.ndarray, sizes: Sequence[Tuple[int, int]], frame_size: Tuple[int, int]) -> np.ndarray:
    """One tab rectangle per box, inside the frame; earlier boxes choose first.

    A tab's spots, in order of preference: above its box (left-aligned), below it, above
    and below right-aligned, right of it, left of it (top-aligned); then every spot aligned
    with the frame, the box or a placed tab. Every spot is moved inside the frame. The tab
    takes, by these criteria in turn: the least overlap with the tabs placed before it;
    not covering its own box (over ``OWN_BOX_SHARE`` of the tab); nearest its box (the gap
    between the rectangles); earliest in the order above. The spots cover every case, so a
    tab overlaps an earlier one only where the frame has no free spot of its size left, and
    then as little as any spot would. Drawing the tabs in reverse order keeps every tab
    that found a free spot whole.

    Args:
        boxes: (M, 4) x1y1x2y2 pixel boxes, of any size (they may reach outside the frame).
        sizes: M (width, height) of the tabs in pixels; a tab wider or taller than the
            frame is cut to it.
        frame_size: (width, height) of the frame.

    Returns:
        (M, 4) int64 tab rectangles x1y1x2y2, x2 and y2 excluded, inside the frame.
    """
    frame_w, frame_h = (int(v) for v in frame_size)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(sizes) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(sizes)} tab sizes")
    # The box as seen: of a box reaching outside the frame, only its part inside.
    seen = np.round(np.clip(boxes, 0, [frame_w, frame_h, frame_w, frame_h])).astype(np.int64)
    placed = np.zeros((0, 4), dtype=np.int64)
    for box, (w, h) in zip(seen, sizes):
        w, h = min(int(w), frame_w), min(int(h), frame_h)
        rect, settled = _choose(_preferred(box, w, h), box, w, h, placed, frame_w, frame_h)
        if not settled:
            corners = np.concatenate([_preferred(box, w, h), _everywhere(box, w, h, placed)])
            rect, _ = _choose(corners, box, w, h, placed, frame_w, frame_h)
        placed = np.concatenate([placed, rect[None]])
    return placed
