"""The greedy tube linker: tracks, breaks, filters and interpolation."""
import numpy as np
import pytest

from woo.evaluation.tube_linking import link_tubes, link_video


def _box(x, y=10.0, size=20.0):
    return [x, y, x + size, y + size]


def test_two_actors_make_two_tubes_with_mean_scores():
    frames = {f: (np.array([_box(10 + f), _box(100 - f)]), np.array([0.9, 0.5])) for f in range(1, 21)}
    tubes = sorted(link_tubes(frames), key=lambda t: -t[1])
    assert len(tubes) == 2
    (first, score_a), (second, score_b) = tubes
    assert score_a == pytest.approx(0.9) and score_b == pytest.approx(0.5)
    np.testing.assert_array_equal(first[:, 0], np.arange(1, 21))
    np.testing.assert_allclose(first[:, 1], 10 + np.arange(1, 21))
    np.testing.assert_allclose(second[:, 1], 100 - np.arange(1, 21))


def test_the_better_tube_takes_the_best_candidate_first():
    # Both tubes overlap both boxes; the higher-scoring tube links first and takes the best-scoring box.
    frames = {1: (np.array([_box(10), _box(12)]), np.array([0.9, 0.3]))}
    frames.update({f: (np.array([_box(11), _box(11.5)]), np.array([0.2, 0.8])) for f in range(2, 16)})
    tubes = link_tubes(frames, min_length=1)
    best = max(tubes, key=lambda t: t[1])
    assert best[1] == pytest.approx((0.9 + 0.8 * 14) / 15)


def test_a_jump_ends_the_tube_and_starts_another():
    frames = {f: (np.array([_box(10 if f <= 10 else 120)]), np.array([0.7])) for f in range(1, 21)}
    tubes = link_tubes(frames, min_length=5)
    assert sorted((t[0, 0], t[-1, 0]) for t, _ in tubes) == [(1, 10), (11, 20)]


def test_short_and_low_scoring_tubes_are_dropped():
    frames = {f: (np.array([_box(10), _box(120)]), np.array([0.5, 0.001])) for f in range(1, 11)}
    frames.update({f: (np.zeros((0, 4)), np.zeros(0)) for f in range(11, 31)})
    assert link_tubes(frames, min_length=15) == []
    (kept,) = link_tubes(frames, min_length=10)
    assert kept[1] == pytest.approx(0.5)


def test_every_kth_frame_is_interpolated_and_max_gap_bridges_misses():
    frames = {f: (np.array([_box(f * 0.5)]), np.array([0.6])) for f in range(1, 33, 8)}  # 1, 9, 17, 25
    ((tube, _),) = link_tubes(frames, min_length=15)
    np.testing.assert_array_equal(tube[:, 0], np.arange(1, 26))
    np.testing.assert_allclose(tube[:, 1], np.arange(1, 26) * 0.5)
    # A frame without the actor: with max_gap 1 the tube breaks, with max_gap 2 it continues.
    frames = {f: (np.array([_box(10)]), np.array([0.6])) for f in range(1, 21)}
    frames[10] = (np.zeros((0, 4)), np.zeros(0))
    assert len(link_tubes(frames, min_length=1, max_gap=1)) == 2
    ((tube, _),) = link_tubes(frames, min_length=1, max_gap=2)
    assert len(tube) == 20


def test_top_k_limits_candidates_per_frame():
    frames = {f: (np.array([_box(10 + 40 * i) for i in range(4)]), np.array([0.9, 0.8, 0.7, 0.6]))
              for f in range(1, 6)}
    assert len(link_tubes(frames, min_length=1, top_k=2)) == 2


def test_link_video_links_each_class_separately():
    detections = {f: (np.array([_box(10), _box(10)]), np.array([0, 2]), np.array([0.9, 0.4])) for f in range(1, 16)}
    tubes = link_video(detections, 3)
    assert [len(tubes[c]) for c in range(3)] == [1, 0, 1]
    assert tubes[2][0][1] == pytest.approx(0.4)
