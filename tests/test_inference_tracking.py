"""Action tubes on hand-made boxes: stable ids, tracks ending after misses, action segments."""
import numpy as np
import pytest

from woo.inference.tracking import ActionTracker, Track, action_segments

NAMES = ["stand", "walk", "bob"]


def detections(*boxes):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return boxes, np.ones(len(boxes), np.float32), np.zeros((len(boxes), 3), np.float32)


def test_ids_follow_moving_boxes_whatever_the_detection_order():
    tracker = ActionTracker(iou_thresh=0.3, max_misses=1)
    a, b = [0, 0, 10, 10], [50, 50, 70, 70]
    assert tracker.update(0.0, *detections(a, b)).tolist() == [0, 1]
    # Both moved a little and come in the other order.
    assert tracker.update(1.0, *detections([52, 51, 72, 71], [1, 0, 11, 10])).tolist() == [1, 0]
    # A new actor far from both gets a new id.
    assert tracker.update(2.0, *detections([1, 1, 11, 11], [100, 0, 120, 20], [53, 51, 73, 71])).tolist() == [0, 2, 1]
    tracks = tracker.tracks()
    assert [t.track_id for t in tracks] == [0, 1, 2]
    assert tracks[0].times == [0.0, 1.0, 2.0] and tracks[2].key_indices == [2]
    np.testing.assert_allclose(tracks[1].boxes[-1], [53, 51, 73, 71])


def test_a_track_ends_after_max_misses_and_a_low_iou_is_no_match():
    tracker = ActionTracker(iou_thresh=0.5, max_misses=2)
    box = [0, 0, 10, 10]
    assert tracker.update(0.0, *detections(box)).tolist() == [0]
    tracker.update(1.0, *detections())  # miss 1
    tracker.update(2.0, *detections())  # miss 2: still live
    assert tracker.update(3.0, *detections(box)).tolist() == [0]
    for t in (4.0, 5.0, 6.0):  # three misses: ended
        tracker.update(t, *detections())
    assert not tracker.live
    assert tracker.update(7.0, *detections(box)).tolist() == [1]
    # IoU 1/3 is below 0.5: a new track rather than a match.
    assert tracker.update(8.0, *detections([5, 0, 15, 10])).tolist() == [2]


def test_empty_boxes_do_not_break_matching():
    tracker = ActionTracker()
    tracker.update(0.0, *detections([3, 3, 3, 3]))
    assert tracker.update(1.0, *detections([3, 3, 3, 3], [0, 0, 5, 5])).tolist() == [1, 2]


def test_segments_follow_scores_and_break_at_misses():
    track = Track(track_id=0)
    walk = [0.9, 0.8, 0.2, 0.7, 0.9, 0.9]
    keys = [0, 1, 2, 3, 5, 6]  # key frame 4 missed
    for k, w in zip(keys, walk):
        track.add(k, float(k), np.zeros(4), 1.0, np.array([0.6, w, 0.1]))
    segments = action_segments(track, NAMES, score_thresh=0.5, half_width=0.5, duration=6.2)
    assert segments == [
        {"label": "stand", "action_id": 1, "start": 0.0, "end": 3.5, "mean_score": 0.6},
        {"label": "walk", "action_id": 2, "start": 0.0, "end": 1.5, "mean_score": 0.85},
        {"label": "walk", "action_id": 2, "start": 2.5, "end": 3.5, "mean_score": 0.7},
        {"label": "stand", "action_id": 1, "start": 4.5, "end": 6.2, "mean_score": 0.6},
        {"label": "walk", "action_id": 2, "start": 4.5, "end": 6.2, "mean_score": 0.9},
    ]
    assert action_segments(Track(track_id=1), NAMES, 0.5, 0.5, 1.0) == []


def test_bad_tracker_arguments():
    with pytest.raises(ValueError):
        ActionTracker(iou_thresh=1.5)
    with pytest.raises(ValueError):
        ActionTracker(max_misses=-1)
