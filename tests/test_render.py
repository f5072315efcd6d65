"""`woo demo`'s label tabs: placement (rectangles only), opacity, text contrast and size (pixels)."""
import itertools

import numpy as np
import pytest

from woo.inference import render
from woo.inference.contrast import AA_TEXT_CONTRAST, contrast_ratio, relative_luminance, text_color
from woo.inference.render import draw_actions, label_font, label_tabs, track_color
from woo.inference.tab_layout import place_tabs

FRAME = (426, 240)  # width, height


def overlap(a, b):
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def assert_inside(rects, sizes, frame):
    for (x1, y1, x2, y2), (w, h) in zip(rects, sizes):
        assert 0 <= x1 and 0 <= y1 and x2 <= frame[0] and y2 <= frame[1]
        assert (x2 - x1, y2 - y1) == (min(w, frame[0]), min(h, frame[1])), "a tab keeps its size, cut to the frame"


def assert_apart(rects):
    for a, b in itertools.combinations(rects, 2):
        assert overlap(a, b) == 0, (a, b)


def least_overlap_anywhere(size, placed, frame):
    """Brute force: the least area a tab of ``size`` shares with ``placed`` over every spot in the frame."""
    w, h = size
    x, y = np.meshgrid(np.arange(frame[0] - w + 1), np.arange(frame[1] - h + 1), indexing="ij")
    total = np.zeros(x.shape, dtype=np.int64)
    for r in placed:
        total += (np.clip(np.minimum(x + w, r[2]) - np.maximum(x, r[0]), 0, None)
                  * np.clip(np.minimum(y + h, r[3]) - np.maximum(y, r[1]), 0, None))
    return int(total.min())


def test_overlapping_boxes_get_tabs_apart_next_to_them():
    boxes = np.array([[100, 60, 160, 200], [104, 62, 164, 204], [98, 58, 158, 198], [110, 70, 170, 210],
                      [140, 80, 200, 220]], dtype=float)
    sizes = [(110, 42), (90, 23), (120, 61), (100, 23), (80, 23)]
    rects = place_tabs(boxes, sizes, FRAME)
    assert_inside(rects, sizes, FRAME)
    assert_apart(rects)
    assert tuple(rects[0]) == (100, 18, 210, 60), "the first tab sits right above its box, left-aligned"
    assert tuple(rects[1]) == (104, 204, 194, 227), "the next one, with the spot above taken, goes below"
    for rect, box in zip(rects, boxes):  # each stays near its box: within one tab height
        gap_x = max(0, box[0] - rect[2], rect[0] - box[2])
        gap_y = max(0, box[1] - rect[3], rect[1] - box[3])
        assert np.hypot(gap_x, gap_y) <= rect[3] - rect[1], (rect, box)


def test_top_edge_and_corner_boxes_keep_whole_tabs_inside_the_frame():
    w, h = FRAME
    boxes = np.array([[150, 0, 210, 120], [220, -30, 280, 90], [0, 0, 60, 100], [w - 60, 0, w, 100],
                      [0, h - 100, 60, h], [w - 60, h - 100, w, h], [300, 20, 340, 80]], dtype=float)
    sizes = [(100, 23)] * len(boxes)
    rects = place_tabs(boxes, sizes, FRAME)
    assert_inside(rects, sizes, FRAME)
    assert_apart(rects)
    # A box at the top edge has no room above: its tab goes below it rather than over it.
    assert tuple(rects[0]) == (150, 120, 250, 143)
    # A box 20 px below the top edge keeps its 23 px tab above it, moved 3 px down onto it.
    assert tuple(rects[-1]) == (300, 0, 400, 23)


def test_boxes_larger_than_the_frame():
    boxes = np.array([[-100, -50, 600, 400], [-10, -10, 436, 250], [0, 0, 426, 240]], dtype=float)
    sizes = [(120, 42), (90, 23), (150, 61)]
    rects = place_tabs(boxes, sizes, FRAME)
    assert_inside(rects, sizes, FRAME)
    assert_apart(rects)
    assert tuple(rects[0]) == (0, 0, 120, 42), "in a frame-filling box the tab takes the top-left corner"


def test_tab_larger_than_the_frame_is_cut_to_it():
    rects = place_tabs(np.array([[10, 10, 50, 50]], dtype=float), [(500, 300)], FRAME)
    assert tuple(rects[0]) == (0, 0, 426, 240)


@pytest.mark.parametrize("seed", range(40))
def test_random_layouts_overlap_only_without_room(seed):
    rng = np.random.default_rng(seed)
    frame = (int(rng.integers(120, 427)), int(rng.integers(90, 241)))
    count = int(rng.integers(1, 12))
    centre = rng.uniform(-20, [frame[0] + 20, frame[1] + 20], size=(count, 2))
    half = rng.uniform(5, [frame[0] * 0.6, frame[1] * 0.6], size=(count, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    sizes = [(int(rng.integers(20, 140)), int(rng.integers(15, 65))) for _ in range(count)]
    rects = place_tabs(boxes, sizes, frame)
    assert_inside(rects, sizes, frame)
    for i in range(count):
        size = (rects[i][2] - rects[i][0], rects[i][3] - rects[i][1])
        shared = sum(overlap(rects[i], r) for r in rects[:i])
        # Zero when any spot of the frame is free; else no spot overlaps the earlier tabs less.
        assert shared == least_overlap_anywhere(size, rects[:i], frame), (i, rects[i])


def test_frame_without_room_overlaps_least_and_draws_the_first_tabs_whole():
    frame = (100, 50)  # one 60 x 30 tab fits; the second overlaps it as little as possible
    boxes = np.array([[10, 30, 40, 50], [50, 10, 90, 40]], dtype=float)
    rects = place_tabs(boxes, [(60, 30), (60, 30)], frame)
    assert_inside(rects, [(60, 30)] * 2, frame)
    assert overlap(rects[0], rects[1]) == least_overlap_anywhere((60, 30), rects[:1], frame) > 0

    frame = (130, 40)  # room for one tab of one line only
    image = np.zeros((frame[1], frame[0], 3), dtype=np.uint8)
    labels = [["stand 0.90"], ["crouch 0.70"]]
    tabs = label_tabs(frame, boxes, [0, 1], labels)
    assert overlap(tabs[0].rect, tabs[1].rect) > 0
    draw_actions(image, boxes, [0, 1], labels)
    x1, y1, x2, y2 = tabs[0].rect
    inside = image[y1:y2, x1:x2].reshape(-1, 3)
    # The first tab is whole: only its colour and its text's, nothing of the second tab.
    assert not np.any(np.all(inside == track_color(1), axis=1))
    assert np.any(np.all(inside == track_color(0), axis=1))


@pytest.mark.parametrize("seed", range(40))
def test_crowded_layouts_overlap_as_little_as_possible(seed):
    rng = np.random.default_rng(1000 + seed)
    frame = (int(rng.integers(60, 140)), int(rng.integers(40, 100)))
    count = int(rng.integers(4, 12))
    corner = rng.uniform(-10, frame, size=(count, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 60, size=(count, 2))], axis=1)
    sizes = [(int(rng.integers(15, 70)), int(rng.integers(10, 35))) for _ in range(count)]
    rects = place_tabs(boxes, sizes, frame)
    assert_inside(rects, sizes, frame)
    for i in range(count):
        size = (rects[i][2] - rects[i][0], rects[i][3] - rects[i][1])
        assert sum(overlap(rects[i], r) for r in rects[:i]) == least_overlap_anywhere(size, rects[:i], frame)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 boxes, 1 track ids and 2 label lists"):
        draw_actions(np.zeros((240, 426, 3), np.uint8), np.zeros((2, 4)), [1], [[], []])
    with pytest.raises(ValueError, match="2 boxes but 1 tab sizes"):
        place_tabs(np.zeros((2, 4)), [(10, 10)], FRAME)


def test_no_boxes_leave_the_frame_as_it_was():
    image = np.random.default_rng(0).integers(0, 256, (240, 426, 3), dtype=np.uint8)
    before = image.copy()
    draw_actions(image, np.zeros((0, 4)), [], [])
    assert np.array_equal(image, before)


def crowded_scene():
    """Overlapping actors, one at the top edge, one at a corner, one larger than the frame."""
    boxes = np.array([[60, 40, 120, 200], [80, 45, 140, 205], [95, 42, 155, 202], [0, 0, 80, 100],
                      [350, -10, 440, 120], [300, 150, 420, 250], [-50, -50, 500, 300]], dtype=float)
    ids = [0, 1, 2, 3, 7, 8, 9]
    labels = [["stand 0.90", "crouch 0.70"], ["stand 0.70"], ["walk 0.55", "carry 0.52", "bob 0.51"],
              ["raise arm 0.88"], ["stand 0.99"], [], ["bob 0.60"]]
    return boxes, ids, labels


def test_tabs_are_opaque_over_any_background():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (FRAME[1], FRAME[0], 3), dtype=np.uint8)  # noise: any blend would show
    boxes, ids, labels = crowded_scene()
    tabs = label_tabs(FRAME, boxes, ids, labels)
    assert_apart([t.rect for t in tabs])
    draw_actions(image, boxes, ids, labels)
    for tab in tabs:
        x1, y1, x2, y2 = tab.rect
        pixels = image[y1:y2, x1:x2].reshape(-1, 3).astype(float)
        fill, ink = np.asarray(tab.color, float), np.asarray(tab.text_color, float)
        # Every pixel is the fill, the text colour, or (anti-aliased edges) a mix of the two only.
        t = np.clip((pixels - fill) @ (ink - fill) / ((ink - fill) @ (ink - fill)), 0, 1)
        residual = np.abs(pixels - (fill + t[:, None] * (ink - fill))).max()
        assert residual <= 1.0, (tab.lines, residual)
        assert np.mean(np.all(pixels == fill, axis=1)) > 0.4, "mostly fill"
        assert np.any(np.all(pixels == ink, axis=1)), "and the text is there"


def test_wcag_contrast_formula():
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((90, 40, 200), (90, 40, 200)) == pytest.approx(1.0)
    assert relative_luminance((255, 0, 0)) == pytest.approx(0.2126)
    # WCAG's well-known pair: #767676 on white is 4.54:1, the darkest such grey passing AA.
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.005)
    assert contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) < AA_TEXT_CONTRAST


def test_every_track_colour_gets_text_of_contrast_at_least_4_5():
    palette = {track_color(i) for i in range(-1, 100)}
    assert len(palette) == 11  # Tableau 10 and white for no track
    for color in palette:
        best = max(contrast_ratio((0, 0, 0), color), contrast_ratio((255, 255, 255), color))
        assert contrast_ratio(text_color(color), color) == best
        # Every colour of this palette reaches WCAG AA with black or white.
        assert best >= AA_TEXT_CONTRAST, (color, best)
    # The colours users could not read white text on now get black text.
    for olive_light_blue_grey in [(188, 189, 34), (23, 190, 207), (127, 127, 127)]:
        assert text_color(olive_light_blue_grey) == (0, 0, 0)


def digit_height(frame):
    """Ink height of the digits "0.70" in the only tab of a ``frame`` (width, height) image, in pixels."""
    image = np.zeros((frame[1], frame[0], 3), dtype=np.uint8)
    box = np.array([[frame[0] * 0.4, frame[1] * 0.4, frame[0] * 0.6, frame[1] * 0.9]])
    (tab,) = label_tabs(frame, box, [0], [["stand 0.70"]])
    draw_actions(image, box, [0], [["stand 0.70"]])
    x1, y1, x2, y2 = tab.rect
    ink = np.any(image[y1:y2, x1:x2] != tab.color, axis=2)
    cols = np.flatnonzero(ink.any(axis=0))
    digits = ink[:, cols[0] + (cols[-1] - cols[0]) * 3 // 4:]  # the last quarter of "#0 stand 0.70"
    rows = np.flatnonzero(digits.any(axis=1))
    return rows[-1] - rows[0] + 1


def test_text_height_has_a_floor_and_grows_with_the_frame():
    assert render.MIN_TEXT_HEIGHT >= 12
    small, hd = digit_height((426, 240)), digit_height((1920, 1080))
    assert small >= render.MIN_TEXT_HEIGHT
    assert hd >= 24 and hd >= 1.8 * small
    assert label_font((1080, 1920)) == label_font((1920, 1080)), "portrait frames size by their shorter side"


def test_an_overlay_draws_like_draw_actions_on_every_frame():
    boxes, ids, labels = crowded_scene()
    overlay = render.ActionOverlay(FRAME, boxes, ids, labels)
    rng = np.random.default_rng(2)
    for _ in range(2):
        frame = rng.integers(0, 256, (FRAME[1], FRAME[0], 3), dtype=np.uint8)
        assert np.array_equal(overlay.draw(frame.copy()), draw_actions(frame.copy(), boxes, ids, labels))
    with pytest.raises(ValueError, match="a frame of 640x480, the overlay is for 426x240"):
        overlay.draw(np.zeros((480, 640, 3), np.uint8))
