"""`woo train` on the synthetic JHMDB-layout set end to end, and the tube evaluator's conversions."""
import json
import os

import numpy as np
import pytest
import torch

from woo.cli import main as woo_main
from woo.config import get_cfg
from woo.data.catalog import get_split
from woo.engine.tube_evaluator import TubeEvaluator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
TINY_JHMDB = os.path.join(REPO, "configs", "Synthetic", "WOO_Tiny_JHMDB.yaml")
FIGURES = ["frame_mAP@0.5", "video_mAP@0.2", "video_mAP@0.5", "video_mAP@0.75", "video_mAP@0.5:0.95"]

pytestmark = pytest.mark.usefixtures("woo_datasets")


def test_tiny_jhmdb_config_uses_one_label_softmax_loss():
    cfg = get_cfg()
    cfg.merge_from_file(TINY_JHMDB)
    assert cfg.MODEL.WOO.ACTION_LOSS == "ce"
    assert cfg.DATASETS.TRAIN == ("woo_synthetic_jhmdb_train",) and cfg.DATASETS.TEST == ("woo_synthetic_jhmdb_test",)
    for path in ("JHMDB-21/WOO_SlowFast_R50_8x8.yaml", "JHMDB-21/WOO_SlowFast_R50_8x8_from_AVA.yaml",
                 "UCF101-24/WOO_SlowFast_R50_8x8.yaml"):
        cfg = get_cfg()
        cfg.merge_from_file(os.path.join(REPO, "configs", path))
        assert cfg.MODEL.WOO.ACTION_LOSS == "ce" and cfg.MODEL.WOO.NUM_ACTIONS in (21, 24), path


@pytest.mark.slow
def test_train_and_evaluate_writes_frame_and_video_map(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from woo.data.catalog import get_split
    from woo.evaluation.tube_eval import evaluate_tube_detections, read_tube_detections_csv

    out = tmp_path / "run"
    code = woo_main(["train", "--config-file", INSTANT, "OUTPUT_DIR", str(out),
                     "DATASETS.TRAIN", "('woo_synthetic_jhmdb_train',)",
                     "DATASETS.TEST", "('woo_synthetic_jhmdb_test_every8',)",
                     "MODEL.WOO.ACTION_LOSS", "ce", "TEST.EVAL_PERIOD", "2"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {*FIGURES, "per_class", "iteration"}
    assert list(metrics["per_class"]) == ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
    assert all(0.0 <= metrics[k] <= 1.0 for k in FIGURES)
    events = EventAccumulator(str(out))
    events.Reload()
    assert set(FIGURES) <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("video_mAP@0.5")] == [2, 4]  # periodic, and the final one
    # The detection CSV holds every 8th frame of the 18 test videos; scoring it again gives metrics.json.
    split = get_split("woo_synthetic_jhmdb_test")
    gt = split.read_groundtruth()
    videos = split.videos(gt)
    detections = read_tube_detections_csv(str(out / "inference" / "detections.csv"), gt, videos)
    assert sorted(set(detections.frame.tolist())) == [1, 9, 17, 25]
    again = evaluate_tube_detections(gt, videos, detections,
                                     evaluated_frames={v: range(1, 33, 8) for v in videos})
    for key in FIGURES:
        assert again[key] == metrics[key], key  # exactly: the CSV round-trips the float32 values


def test_evaluator_scales_boxes_scores_pairs_and_keeps_the_best(woo_datasets):
    evaluator = TubeEvaluator(get_split("woo_synthetic_jhmdb_test"), detections_per_frame=3)
    inputs = [{"video_id": "test000", "timestamp": 5, "image_size": (60, 80), "height": 120, "width": 160}]
    outputs = [{"boxes": torch.tensor([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 8.0, 8.0]]),
                "scores": torch.tensor([0.5, 1.0]),
                "actions": torch.tensor([[0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])}]
    evaluator.process(inputs, outputs)
    (pred,) = evaluator._predictions
    # actor x action: box 0 -> 0.05, 0.4, 0.05; box 1 -> 0.6, 0.2, 0.2; best three kept.
    np.testing.assert_allclose(pred["scores"], [0.6, 0.4, 0.2])
    assert pred["labels"].tolist() == [0, 1, 1]
    np.testing.assert_allclose(pred["boxes"][1], [20.0, 40.0, 60.0, 80.0])  # back to 160 x 120 pixels
    assert pred["frame"] == 5


def test_d2_tube_evaluator_scores_ground_truth_as_perfect(woo_datasets, tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.structures import Boxes, Instances

    import woo.d2

    split = get_split("woo_synthetic_jhmdb_test")
    gt = split.read_groundtruth()
    cfg = woo.d2.get_cfg()
    cfg.MODEL.WOO.ACTION_SCORE = "action"
    evaluator = woo.d2.build_evaluator(cfg, split.name, str(tmp_path))
    evaluator.reset()
    for video in split.videos(gt):
        ((label, (tube,)),) = gt.gttubes[video].items()
        for row in tube:
            instances = Instances((120, 160), pred_boxes=Boxes(torch.tensor(row[None, 1:5])),
                                  scores=torch.ones(1), pred_actions=torch.nn.functional.one_hot(
                                      torch.tensor([label]), 6).float())
            evaluator.process([{"video_id": video, "timestamp": int(row[0]), "height": 120, "width": 160}],
                              [{"instances": instances}])
    result = evaluator.evaluate()
    assert result["frame_mAP"]["frame_mAP@0.5"] == pytest.approx(1.0)
    assert result["frame_mAP"]["AP-walk"] == pytest.approx(1.0)
    assert result["video_mAP"] == {k: pytest.approx(1.0) for k in FIGURES[1:]}
    assert (tmp_path / "detections.csv").exists()
