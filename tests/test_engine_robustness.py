"""What a careless user and a bad day do to `woo train`: a second run on the same
OUTPUT_DIR, a diverging run, a bad OUTPUT_DIR, flags after the overrides, and the
checkpoint files a run keeps."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_engine_train import INSTANT, NO_EVAL, losses, train

from woo.cli import main

pytestmark = pytest.mark.usefixtures("woo_datasets")


def _woo_train(out_dir, *args, log=None):
    """`woo train` in a new process; its output goes to ``log`` (a file) or to pipes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "woo.cli", "train", "--config-file", INSTANT, "OUTPUT_DIR", str(out_dir), *args],
        stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.slow
def test_a_second_training_on_the_same_output_dir_is_refused(tmp_path):
    out = tmp_path / "run"
    lock = out / "train.lock"
    with open(tmp_path / "first.out", "w") as log:
        first = _woo_train(out, "SOLVER.MAX_ITER", "1000", "SOLVER.STEPS", "(900,)", *NO_EVAL, log=log)
    try:
        deadline = time.monotonic() + 120
        while not (out / "model_0000001.pth").exists():  # the first run is training
            assert first.poll() is None, (tmp_path / "first.out").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert f"pid {first.pid} " in lock.read_text()
        os.kill(first.pid, signal.SIGSTOP)  # still holds the lock, leaves the CPU to the others

        second = _woo_train(out, *NO_EVAL)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"OUTPUT_DIR {out} is in use by another training (pid {first.pid} " in err

        # Evaluating in the same folder is still allowed, with the flag after the overrides.
        assert train(out, "MODEL.WEIGHTS", str(out / "model_0000001.pth"), "--eval-only") == 0
        assert json.loads((out / "metrics.json").read_text())["iteration"] == 2
        assert first.poll() is None

        os.kill(first.pid, signal.SIGKILL)  # no chance to release the lock
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert f"pid {first.pid} " in lock.read_text()  # a stale lock file, held by nobody
    assert train(out, *NO_EVAL, "SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "(1,)") == 0
    assert f"Took over the lock of a training that ended without releasing it (pid {first.pid} " in (
        out / "log.txt").read_text()
    assert lock.read_text() == ""  # released on exit


@pytest.mark.slow
def test_diverging_run_names_iteration_and_lr_and_keeps_the_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    # A warm-up from a harmless rate: the first iteration trains and is checkpointed, then the
    # rate climbs to 1e6 and the run diverges.
    code = train(out, "SOLVER.BASE_LR", "1e6", "SOLVER.MAX_ITER", "30", "SOLVER.STEPS", "(29,)",
                 "SOLVER.WARMUP_ITERS", "20", "SOLVER.WARMUP_FACTOR", "1e-12",
                 "SOLVER.CHECKPOINT_PERIOD", "1", *NO_EVAL)
    assert code == 1
    err = capsys.readouterr().err.splitlines()[-1]  # the lines before it are tqdm's progress bar
    assert err.startswith("woo train: error: training diverged at iteration ")
    assert "SOLVER.BASE_LR 1e+06" in err and "learning rate" in err and "non-finite" in err
    assert not (out / "model_final.pth").exists()
    failed_at = int(err.split("training diverged at iteration ")[1].split(":")[0])
    done = len(losses(out))
    assert failed_at == done + 1 and done >= 1
    # every checkpoint written holds finite weights, and the error names the last one
    last = (out / "last_checkpoint").read_text()
    assert str(out / last) in err
    for name, value in torch.load(out / last, weights_only=True)["model"].items():
        assert torch.isfinite(value.float()).all(), name


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_unusable_output_dir_is_one_line_naming_it(tmp_path, capsys, kind):
    if kind == "file":
        path = tmp_path / "a_file"
        path.write_text("")
        expected = f"OUTPUT_DIR {path} exists and is not a folder"
    else:
        path = "/proc/woo_cannot_be_here"
        expected = f"OUTPUT_DIR {path} cannot be created"
    assert train(path, *NO_EVAL) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"woo train: error: {expected}" in err


def test_flags_anywhere_among_the_overrides(monkeypatch):
    captured = {}
    monkeypatch.setattr("woo.commands.train.launch", lambda run, args, **kwargs: captured.setdefault("args", args[0]))
    assert main(["train", "SOLVER.BASE_LR", "-1e-3", "--eval-only", "OUTPUT_DIR", "x",
                 "--config-file", INSTANT, "--num-gpus", "2"]) == 0
    args = captured["args"]
    assert args.eval_only and args.num_gpus == 2 and args.config_file == INSTANT
    assert args.opts == ["SOLVER.BASE_LR", "-1e-3", "OUTPUT_DIR", "x"]


def test_unknown_flag_among_the_overrides_is_named(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--config-file", INSTANT, "OUTPUT_DIR", "x", "--evalonly"])
    assert info.value.code == 2
    assert "unrecognized arguments: --evalonly" in capsys.readouterr().err


@pytest.mark.slow
def test_max_to_keep_and_a_model_only_final_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    keep = ["SOLVER.CHECKPOINT_PERIOD", "1", "SOLVER.CHECKPOINT_MAX_TO_KEEP", "2", *NO_EVAL]
    assert train(out, *keep) == 0
    assert sorted(p.name for p in out.glob("model_*.pth")) == ["model_0000001.pth", "model_0000002.pth", "model_final.pth"]
    final = torch.load(out / "model_final.pth", weights_only=True)
    periodic = torch.load(out / "model_0000002.pth", weights_only=True)
    assert final["model_only"] is True and final["iteration"] == 3
    assert set(final) == {"model", "model_only", "iteration"}
    assert {"optimizer", "scheduler", "rng"} <= set(periodic)
    # With AdamW's two moments a full checkpoint is about three times the model alone.
    assert os.path.getsize(out / "model_0000002.pth") > 2.5 * os.path.getsize(out / "model_final.pth")

    # A finished run resumes (nothing to do); training past a model-only file is a clear error.
    assert train(out, *keep, flags=["--resume"]) == 0
    capsys.readouterr()
    assert train(out, *keep, "SOLVER.MAX_ITER", "6", flags=["--resume"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the model alone" in err and "model_XXXXXXX.pth" in err

    # Resuming from a periodic checkpoint counts the files already there towards the limit.
    (out / "last_checkpoint").write_text("model_0000002.pth")
    assert train(out, *keep, "SOLVER.MAX_ITER", "6", "SOLVER.STEPS", "(5,)", flags=["--resume"]) == 0
    assert sorted(p.name for p in out.glob("model_0*.pth")) == ["model_0000003.pth", "model_0000004.pth"]


def test_negative_max_to_keep_names_the_key(tmp_path, capsys):
    assert train(tmp_path / "run", "SOLVER.CHECKPOINT_MAX_TO_KEEP", "-1", *NO_EVAL) == 1
    assert "SOLVER.CHECKPOINT_MAX_TO_KEEP" in capsys.readouterr().err
