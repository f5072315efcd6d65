"""Two CPU processes (gloo) train with DDP and evaluate the gathered predictions."""
import json

import pytest
import torch
from test_engine_train import INSTANT, main

pytestmark = pytest.mark.usefixtures("woo_datasets")


@pytest.mark.slow
def test_two_processes_train_and_gather_every_key_frame(tmp_path):
    out = tmp_path / "ddp"
    argv = ["train", "--config-file", INSTANT, "--num-gpus", "2",
            "OUTPUT_DIR", str(out), "MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "4"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iteration"] == 4  # iterations done
    # Both shards' predictions reach rank 0: with no score threshold every val key frame has rows.
    key_frames = {tuple(r.split(",")[:2]) for r in (out / "inference" / "detections.csv").read_text().splitlines()}
    assert len(key_frames) == 62
    assert (out / "log.txt.rank1").is_file()
    assert "Rank 1 of 2" in (out / "log.txt.rank1").read_text()
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 3
