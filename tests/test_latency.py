"""``woo latency`` and the two-stage baseline on tiny inputs (no timing is asserted)."""
import json
import os
import sys

import pytest
import torch

from woo.cli import main as woo_main
from woo.commands.latency import measure, prepare_woo
from woo.config import get_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from two_stage import TwoStagePipeline, prepare_two_stage  # noqa: E402  (benchmark code, not the package)


@pytest.fixture(scope="module")
def instant_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    return cfg


@pytest.fixture(scope="module")
def two_stage_pipeline(instant_cfg):
    """The two-stage pipeline on the Instant config at 64x96, K = 3, built once for the
    module (Faster R-CNN R50-FPN and a SlowFast R50 take seconds to build)."""
    torch.manual_seed(0)
    return TwoStagePipeline(**TwoStagePipeline.from_config(instant_cfg, image_size=(64, 96), num_boxes=3))


@pytest.fixture(scope="module")
def bf16_cfg(instant_cfg):
    cfg = instant_cfg.clone()
    cfg.MODEL.INFERENCE.PRECISION = "bf16"
    return cfg


@pytest.fixture(scope="module")
def two_stage_at_input_size(bf16_cfg):
    """The two-stage pipeline prepared for timing in bf16 with the detector at the input
    size (K = 5), built once for the module."""
    return prepare_two_stage(bf16_cfg, num_boxes=5, detector_min_size=0, height=64, width=96, batch=1, flops=True)


def test_latency_command_reports_woo_and_its_parts(tmp_path, capsys):
    out = tmp_path / "latency.json"
    rc = woo_main(["latency", "--config-file", INSTANT, "--input-size", "64", "96",
                   "--warmup", "0", "--iters", "2", "--threads", "1", "--json", str(out),
                   "MODEL.INFERENCE.PRECISION", "bf16"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["precision"] == "bf16" and result["threads"] == 1
    assert result["input_size"] == [64, 96] and result["num_frames"] == 4
    woo = result["woo"]
    assert len(woo["calls_s"]) == 2
    assert set(woo["split_ms"]) == {"backbone", "FPN", "actor head", "action head", "other"}
    assert all(v >= 0 for v in woo["split_ms"].values())
    # The parts are timed inside the timed calls: each call's parts add up to that call.
    assert len(woo["split_calls_ms"]) == 2 and woo["split_ms"] in woo["split_calls_ms"]
    for split, seconds in zip(woo["split_calls_ms"], woo["calls_s"]):
        assert sum(split.values()) == pytest.approx(1000 * seconds, rel=1e-6)
        assert split["other"] < 1000 * seconds
    assert woo["gflops"] > 0
    assert woo["ms_per_key_frame_min"] == pytest.approx(1000 * min(woo["calls_s"]))
    printed = capsys.readouterr().out
    assert "ms per key frame" in printed and "backbone" in printed and "(1 thread)" in printed


@pytest.mark.slow
def test_two_stage_benchmark_times_beside_woo(bf16_cfg, two_stage_at_input_size):
    subjects = {"woo": prepare_woo(bf16_cfg, height=64, width=96, batch=1, flops=True),
                "two_stage": two_stage_at_input_size}
    result = measure(subjects, device=torch.device("cpu"), batch=1, warmup=0, iters=2)
    woo, two = result["woo"], result["two_stage"]
    assert len(woo["calls_s"]) == 2 and len(two["calls_s"]) == 2
    assert set(two["split_ms"]) == {"detector", "action model", "other"}
    # Faster R-CNN R50-FPN and a SlowFast R50 cost far more than the Instant model.
    assert 0 < woo["gflops"] < two["gflops"]
    assert two["gflops"] == pytest.approx(sum(two["split_gflops"].values()))
    assert two["detector_min_size"] == 0 and two["num_boxes"] == 5


def test_latency_rejects_bad_arguments():
    with pytest.raises(SystemExit, match="--batch"):
        woo_main(["latency", "--config-file", INSTANT, "--batch", "0"])


@pytest.mark.slow
def test_two_stage_keeps_k_person_boxes_padded_with_the_frame(two_stage_pipeline):
    pipeline = two_stage_pipeline
    detections = [{"boxes": torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8], [9, 9, 10, 10]]),
                   "labels": torch.tensor([1, 3, 1]), "scores": torch.tensor([0.9, 0.8, 0.7])}]
    boxes = pipeline.person_boxes(detections, height=64, width=96)
    expected = torch.tensor([[[1.0, 2, 3, 4], [9, 9, 10, 10], [0, 0, 96, 64]]])
    torch.testing.assert_close(boxes, expected)
    with torch.inference_mode():
        out = pipeline.eval()(torch.rand(2, 3, 4, 64, 96) * 255)
    assert out["boxes"].shape == (2, 3, 4) and out["actions"].shape == (2, 3, 6)


def test_two_stage_detector_runs_at_torchvisions_scale_unless_told_otherwise(instant_cfg, two_stage_pipeline):
    cfg = instant_cfg
    shipped = two_stage_pipeline.detector.transform  # the default detector_min_size
    assert (shipped.min_size, shipped.max_size) == ((800,), 1333)
    at_input = TwoStagePipeline.from_config(cfg, image_size=(64, 96), detector_min_size=0)["detector"].transform
    assert (at_input.min_size, at_input.max_size) == ((64,), 96)
    with pytest.raises(ValueError, match="--detector-min-size"):
        TwoStagePipeline.from_config(cfg, image_size=(64, 96), detector_min_size=-1)
