"""Detection scores (MODEL.WOO.ACTION_SCORE) and kept actors (MODEL.WOO.MIN_DETECTIONS_PER_CLIP), on hand-made outputs."""
import math
import os

import numpy as np
import pytest
import torch

from woo.data.ava_dataset import AVASplit
from woo.engine.ava_evaluator import AVAEvaluator

INSTANT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "Synthetic",
                       "WOO_Instant.yaml")


# Only the files' names: nothing is evaluated here.
_SPLIT = AVASplit(name="hand-made", frames_dir="", frame_list="", annotations="gt.csv", label_map="map.pbtxt",
                  eval_label_map="map.pbtxt", exclusions=None, num_actions=2)


def _predictions(action_score):
    evaluator = AVAEvaluator(_SPLIT, action_score=action_score)
    inputs = [{"video_id": "v", "timestamp": 902, "image_size": (100, 200)}]
    outputs = [{"boxes": torch.tensor([[20.0, 10.0, 100.0, 50.0], [0.0, 0.0, 400.0, 100.0]]),
                "scores": torch.tensor([0.9, 0.5]),
                "actions": torch.tensor([[0.8, 0.1], [0.4, 1.0]])}]
    evaluator.process(inputs, outputs)
    (pred,) = evaluator._predictions
    return pred


def test_action_score_modes():
    action = _predictions("action")
    product = _predictions("actor_x_action")
    # "action": the action probability alone, as WOO's successors write it.
    np.testing.assert_array_equal(action["scores"], np.array([[0.8, 0.1], [0.4, 1.0]], dtype=np.float32))
    # "actor_x_action": times the actor score.
    np.testing.assert_allclose(product["scores"], [[0.72, 0.09], [0.2, 0.5]], rtol=1e-6)
    # Boxes are normalized by the image size and clipped to it, whatever the mode.
    np.testing.assert_allclose(action["boxes"], [[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(action["boxes"], product["boxes"])
    with pytest.raises(ValueError, match="MODEL.WOO.ACTION_SCORE must be one of"):
        AVAEvaluator(_SPLIT, action_score="actor")


@pytest.fixture(scope="module")
def model():
    from woo.config import load_config
    from woo.modeling import build_model

    return build_model(load_config(INSTANT, ["MODEL.DEVICE", "cpu"])).eval()


def _logit(p):
    """Actor/no-actor logits whose softmax gives actor probability ``p``."""
    return [math.log(p), math.log(1 - p)]


@pytest.mark.parametrize("min_detections, kept", [(0, [[0.9], []]), (1, [[0.9], [0.6]]),
                                                  (3, [[0.9, 0.6, 0.3], [0.6, 0.5, 0.2]])])
def test_min_detections_per_clip_keeps_the_best_actors_whatever_their_score(model, min_detections, kept):
    # Clip 0 has one actor above SCORE_THRESH_TEST 0.7; clip 1 none.
    scores = [[0.3, 0.9, 0.1, 0.6], [0.2, 0.5, 0.6, 0.1]]
    logits = torch.tensor([[_logit(p) for p in clip] for clip in scores])
    boxes = torch.tensor([[[i, i, i + 10.0, i + 10.0] for i in range(4)]] * 2)
    action_logits = torch.zeros(2, 4, 3)
    model.score_thresh, model.min_detections_per_clip, model.detections_per_clip = 0.7, min_detections, 100
    results = model.inference(logits, boxes, action_logits, torch.tensor([[64, 64], [64, 64]]))
    assert [[round(p, 4) for p in r["scores"].tolist()] for r in results] == kept
    # Each kept actor brings its own box and actions.
    for clip, result in zip(scores, results):
        proposals = [clip.index(round(p, 4)) for p in result["scores"].tolist()]
        assert result["boxes"][:, 0].tolist() == [float(i) for i in proposals]
        assert result["actions"].shape == (len(proposals), 3)
    # DETECTIONS_PER_IMAGE still caps the count.
    model.detections_per_clip = 2
    capped = model.inference(logits, boxes, action_logits, torch.tensor([[64, 64], [64, 64]]))
    assert [len(r["scores"]) for r in capped] == [min(len(k), 2) for k in kept]


def test_training_scores_the_detections_as_written(tmp_path):
    """A box whose IoU with the ground truth crosses 0.5 only when rounded to the CSV's 3 decimals:
    the evaluation scores it as written, so `woo ava-eval` on detections.csv gives the same figure."""
    from woo.evaluation.evaluate import evaluate_csv

    (tmp_path / "map.pbtxt").write_text('item {\n  name: "a"\n  id: 1\n}\n')
    # Ground truth x1..x2 = 0.1..0.5002; a detection from x1 to 0.6 has IoU 2 * (0.5002 - x1):
    # 0.4996 at x1 = 0.2504 as computed, 0.5004 at x1 = 0.250 as written.
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5002,0.5,1,0\n")
    split = AVASplit(name="hand-made", frames_dir="", frame_list="", annotations=str(tmp_path / "gt.csv"),
                     label_map=str(tmp_path / "map.pbtxt"), eval_label_map=str(tmp_path / "map.pbtxt"),
                     exclusions=None, num_actions=1)
    evaluator = AVAEvaluator(split, output_dir=str(tmp_path / "inference"), action_score="action")
    evaluator.process([{"video_id": "v", "timestamp": 902, "image_size": (1, 1)}],
                      [{"boxes": torch.tensor([[0.2504, 0.1, 0.6, 0.5]]), "scores": torch.tensor([1.0]),
                        "actions": torch.tensor([[0.9]])}])
    result = evaluator.evaluate()
    written = tmp_path / "inference" / "detections.csv"
    assert written.read_text() == "v,0902,0.250,0.100,0.600,0.500,1,0.900000\n"
    again = evaluate_csv(split.eval_label_map, split.annotations, str(written), protocol="official",
                         also=("pyslowfast",))
    assert result["frame_mAP@0.5"] == again["frame_mAP@0.5"] == 1.0
    assert result["frame_mAP@0.5_pyslowfast"] == again["frame_mAP@0.5_pyslowfast"] == 1.0


def test_round_as_written_is_what_reading_the_text_gives():
    from woo.evaluation.detections import round_as_written

    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.random((500, 4)), [[0.0005, 0.0015, 0.9995, 1.0], [-0.0, 0.1235, 0.5, 0.25]]])
    scores = np.concatenate([rng.random((500, 3)), [[0.9213565, 0.0000005, 1.0], [0.0, 0.5, 0.25]]])
    pred = {"video_id": "v", "timestamp": 902, "boxes": boxes.astype(np.float32), "scores": scores.astype(np.float32)}
    (rounded,) = round_as_written([pred])
    assert rounded["video_id"] == "v" and pred["boxes"].dtype == np.float32  # the input is kept
    expected_boxes = [[float(f"{v:.3f}") for v in row] for row in pred["boxes"].astype(np.float64).tolist()]
    expected_scores = [[float(f"{v:.6f}") for v in row] for row in pred["scores"].astype(np.float64).tolist()]
    assert rounded["boxes"].tolist() == expected_boxes
    assert rounded["scores"].tolist() == expected_scores


def test_key_frames_without_ground_truth_are_warned_about_unless_the_split_has_them(tmp_path, caplog):
    import logging

    from woo.evaluation.evaluate import evaluate_predictions

    (tmp_path / "map.pbtxt").write_text('item {\n  name: "a"\n  id: 1\n}\n')
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,0\n")
    predictions = [{"video_id": "v", "timestamp": t, "boxes": np.array([[0.1, 0.1, 0.5, 0.5]]),
                    "scores": np.array([[0.9]])} for t in (902, 903)]  # 903 has no ground truth
    args = (predictions, str(tmp_path / "gt.csv"), str(tmp_path / "map.pbtxt"))
    with caplog.at_level(logging.INFO, logger="woo.evaluation.evaluate"):
        evaluate_predictions(*args)
        (record,) = [r for r in caplog.records if "no ground truth" in r.getMessage()]
        assert record.levelno == logging.WARNING and "1 key frames" in record.getMessage()
        caplog.clear()
        evaluate_predictions(*args, empty_key_frames=True)
        (record,) = [r for r in caplog.records if "without actors" in r.getMessage()]
        assert record.levelno == logging.INFO and "by design" in record.getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
