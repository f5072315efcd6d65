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
