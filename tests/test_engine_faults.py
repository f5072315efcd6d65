"""A run killed with SIGKILL and resumed ends with the weights of an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_engine_train import INSTANT, NO_EVAL, assert_same_weights, losses, train, weights

# $WOO_DATASETS points at the session's generated synthetic set (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("woo_datasets")

SCHEDULE = ["SOLVER.MAX_ITER", "40", "SOLVER.STEPS", "(30,)", "SOLVER.CHECKPOINT_PERIOD", "2", *NO_EVAL]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "woo.cli", "train", "--config-file", INSTANT,
           "OUTPUT_DIR", str(killed), *SCHEDULE]
    with open(tmp_path / "killed.out", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "model_0000003.pth").exists():
            assert proc.poll() is None, (tmp_path / "killed.out").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (killed / "model_final.pth").exists()
    stopped_at = (killed / "last_checkpoint").read_text()
    assert train(killed, *SCHEDULE, flags=["--resume"]) == 0

    reference = tmp_path / "reference"
    assert train(reference, *SCHEDULE) == 0
    assert_same_weights(weights(killed / "model_final.pth"), weights(reference / "model_final.pth"))
    # The resumed part logged exactly the reference's losses from where it restarted.
    resumed = losses(killed)[-(40 - int(stopped_at[6:13]) - 1):]
    assert resumed == losses(reference)[-len(resumed):]
    assert torch.load(killed / "model_final.pth", weights_only=True)["iteration"] == 39
