"""`woo.VideoPredictor` with a model built by detectron2 (`woo.d2`): same results as the core model."""
import os

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.modeling import build_model  # noqa: E402

import woo.d2  # noqa: E402
from woo.config import get_cfg  # noqa: E402
from woo.inference import VideoPredictor  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")


def test_d2_model_and_its_checkpoint_give_the_core_predictions(tmp_path):
    d2_cfg = woo.d2.get_cfg()
    d2_cfg.merge_from_file(INSTANT)
    d2_cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    d2_model = build_model(d2_cfg)
    checkpoint = tmp_path / "model_final.pth"
    torch.save({"model": d2_model.state_dict(), "iteration": 3}, checkpoint)  # as train_net.py writes it

    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.MODEL.WEIGHTS = str(checkpoint)
    core = VideoPredictor(cfg, batch_size=2)
    from_d2 = VideoPredictor(d2_cfg, model=d2_model, batch_size=2)

    video = np.random.default_rng(0).integers(0, 256, size=(45, 90, 120, 3), dtype=np.uint8)
    expected, got = list(core(video)), list(from_d2(video))
    assert [k.time for k in got] == [k.time for k in expected] == [0.0, 1.0]
    for a, b in zip(got, expected):
        assert len(a.boxes) == len(b.boxes) > 0
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        np.testing.assert_allclose(a.actions, b.actions, atol=1e-5)
        assert a.class_names == b.class_names == ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
