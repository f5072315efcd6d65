"""projects/WOO/train_net.py on the synthetic set, and checkpoints shared with ``woo train``."""
import importlib.util
import json
import os
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.engine import default_argument_parser  # noqa: E402

from woo.cli import main as woo_cli  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")


def _load_train_net():
    spec = importlib.util.spec_from_file_location("woo_train_net", os.path.join(REPO, "projects", "WOO", "train_net.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_net = _load_train_net()


def _train_net(*argv):
    return train_net.main(default_argument_parser().parse_args(["--config-file", INSTANT, *argv]))


def _read(path):
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, datasets_root):
    """One short run of each engine on the session's synthetic set."""
    tmp = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", datasets_root)
        d2_dir, woo_dir = str(tmp / "d2"), str(tmp / "woo")
        # detectron2's habit: a schedule longer than MAX_ITER (steps, warm-up) is cut to the run.
        _train_net("OUTPUT_DIR", d2_dir, "SOLVER.STEPS", "(3, 1000)", "SOLVER.WARMUP_ITERS", "50")
        assert woo_cli(["train", "--config-file", INSTANT, "OUTPUT_DIR", woo_dir]) == 0
        yield {"tmp": tmp, "d2": d2_dir, "woo": woo_dir, "datasets": datasets_root}


def _final_d2_eval(output_dir):
    """The evaluation detectron2's EvalHook wrote to OUTPUT_DIR/metrics.json at the end of training."""
    events = [json.loads(line) for line in _read(os.path.join(output_dir, "metrics.json")).splitlines()]
    return [e for e in events if "frame_mAP/frame_mAP@0.5" in e][-1]


def test_train_net_trains_checkpoints_and_evaluates(runs):
    d2_dir = runs["d2"]
    final_eval = _final_d2_eval(d2_dir)
    assert 0.0 <= final_eval["frame_mAP/frame_mAP@0.5"] <= 1.0
    assert sorted(k for k in final_eval if k.startswith("frame_mAP/AP-")) == sorted(
        f"frame_mAP/AP-{c}" for c in ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
    )
    # WOO_Instant: MAX_ITER 4, CHECKPOINT_PERIOD 2.
    assert _read(os.path.join(d2_dir, "last_checkpoint")) == "model_final.pth"
    assert os.path.isfile(os.path.join(d2_dir, "model_0000001.pth"))
    checkpoint = torch.load(os.path.join(d2_dir, "model_final.pth"), map_location="cpu", weights_only=True)
    assert checkpoint["iteration"] == 3
    rows = _read(os.path.join(d2_dir, "inference", "detections.csv")).splitlines()
    assert rows and all(len(r.split(",")) == 8 for r in rows)
    events = [json.loads(line) for line in _read(os.path.join(d2_dir, "metrics.json")).splitlines()]
    assert any("loss_action" in e and "loss_giou_0" in e for e in events)


def test_eval_only_of_a_woo_train_checkpoint_gives_its_detections(runs):
    out = str(runs["tmp"] / "d2_eval_of_woo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        results = _train_net("--eval-only", "MODEL.WEIGHTS", os.path.join(runs["woo"], "model_final.pth"), "OUTPUT_DIR", out)
    woo_metrics = json.loads(_read(os.path.join(runs["woo"], "metrics.json")))
    assert results["frame_mAP"]["frame_mAP@0.5"] == pytest.approx(woo_metrics["frame_mAP@0.5"], abs=1e-9)
    assert _read(os.path.join(out, "inference", "detections.csv")) == _read(
        os.path.join(runs["woo"], "inference", "detections.csv")
    )


def test_woo_train_eval_only_of_a_train_net_checkpoint_gives_its_detections(runs):
    out = str(runs["tmp"] / "woo_eval_of_d2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        argv = ["train", "--config-file", INSTANT, "--eval-only",
                "MODEL.WEIGHTS", os.path.join(runs["d2"], "model_final.pth"), "OUTPUT_DIR", out]
        assert woo_cli(argv) == 0
    metrics = json.loads(_read(os.path.join(out, "metrics.json")))
    assert metrics["frame_mAP@0.5"] == pytest.approx(_final_d2_eval(runs["d2"])["frame_mAP/frame_mAP@0.5"], abs=1e-9)
    assert _read(os.path.join(out, "inference", "detections.csv")) == _read(
        os.path.join(runs["d2"], "inference", "detections.csv")
    )


def test_resume_continues_after_the_last_checkpoint(runs):
    out = str(runs["tmp"] / "d2_resumed")
    shutil.copytree(runs["d2"], out)
    os.remove(os.path.join(out, "model_final.pth"))
    with open(os.path.join(out, "last_checkpoint"), "w") as f:
        f.write("model_0000001.pth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        _train_net("--resume", "OUTPUT_DIR", out)
    final = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=True)
    assert final["iteration"] == 3
    assert "Starting training from iteration 2" in _read(os.path.join(out, "log.txt"))
    assert final["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 4  # one LR step per iteration 0..3


def test_a_failed_checkpoint_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    from torch import nn

    from woo.d2 import AtomicDetectionCheckpointer

    model = nn.Linear(2, 2)
    checkpointer = AtomicDetectionCheckpointer(model, str(tmp_path), save_to_disk=True)
    checkpointer.save("model_final", iteration=3)
    saved_weight = model.weight.detach().clone()
    before = sorted(os.listdir(tmp_path))

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        checkpointer.save("model_final", iteration=4)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file left behind
    loaded = torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=True)
    assert loaded["iteration"] == 3
    assert torch.equal(loaded["model"]["weight"], saved_weight)


def test_train_net_writes_checkpoints_atomically(runs, tmp_path):
    from detectron2.engine import hooks

    from woo.d2 import AtomicDetectionCheckpointer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        args = default_argument_parser().parse_args(["--config-file", INSTANT, "OUTPUT_DIR", str(tmp_path)])
        trainer = train_net.Trainer(train_net.setup(args))
    periodic = [h for h in trainer._hooks if isinstance(h, hooks.PeriodicCheckpointer)]
    assert isinstance(trainer.checkpointer, AtomicDetectionCheckpointer)
    assert periodic and all(h.checkpointer is trainer.checkpointer for h in periodic)
    assert not [f for f in os.listdir(runs["d2"]) if f.endswith(".tmp")]


def test_both_engines_resolve_the_same_schedule_in_epochs(runs, tmp_path):
    """WOO_Instant in epochs with REFERENCE_WORLD_SIZE 2, on one process: batch 16 -> 8, 54 key
    frames with actors -> 7 iterations per epoch, the step at epoch 0.5 at iteration 3."""
    from woo.config import load_config

    config = tmp_path / "epochs.yaml"
    config.write_text(
        f'_BASE_: "{INSTANT}"\n'
        "SOLVER:\n  MAX_EPOCHS: 1\n  STEPS_EPOCHS: (0.5,)\n  IMS_PER_BATCH: 16\n  REFERENCE_WORLD_SIZE: 2\n"
        'DATASETS:\n  TRAIN: ("woo_synthetic_val",)\n  TEST: ()\n'
        "DATALOADER:\n  FILTER_EMPTY_ANNOTATIONS: True\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        assert woo_cli(["train", "--config-file", str(config), "OUTPUT_DIR", str(tmp_path / "woo")]) == 0
        args = default_argument_parser().parse_args(["--config-file", str(config), "OUTPUT_DIR", str(tmp_path / "d2")])
        trainer = train_net.Trainer(train_net.setup(args))
    ours = load_config(str(tmp_path / "woo" / "config.yaml")).SOLVER
    d2_cfg = train_net.get_cfg()
    d2_cfg.merge_from_file(str(tmp_path / "d2" / "config.yaml"))
    theirs = d2_cfg.SOLVER
    assert (trainer.max_iter, tuple(trainer.cfg.SOLVER.STEPS)) == (ours.MAX_ITER, tuple(ours.STEPS)) == (7, (3,))
    for key in ("MAX_ITER", "STEPS", "IMS_PER_BATCH", "BASE_LR", "WARMUP_ITERS", "MAX_EPOCHS", "STEPS_EPOCHS"):
        assert ours[key] == theirs[key] == trainer.cfg.SOLVER[key], key
    assert trainer.scheduler.state_dict()["max_iter"] == 7
    assert "1 epoch of 54 key frames at batch 8 = 7 iterations" in _read(os.path.join(tmp_path, "d2", "log.txt"))


def test_a_split_registered_as_a_list_of_dicts_is_packed_into_records(runs):
    from detectron2.data import DatasetCatalog

    from woo.d2 import get_clip_dataset_dicts

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", runs["datasets"])
        records = get_clip_dataset_dicts(["woo_synthetic_val"])
    dicts = [dict(r, frame_paths=list(r["frame_paths"])) for r in records]
    DatasetCatalog.register("user_split_as_dicts", lambda: dicts)
    try:
        packed = get_clip_dataset_dicts(["user_split_as_dicts", "woo_synthetic_val"], filter_empty=True)
    finally:
        DatasetCatalog.remove("user_split_as_dicts")
    assert len(packed) == 2 * 54  # the key frames with actors of both
    first, expected = packed[0], next(d for d in dicts if len(d["boxes"]))
    assert (first["video_id"], first["timestamp"]) == (expected["video_id"], expected["timestamp"])
    assert first["frame_paths"] == expected["frame_paths"]
    np.testing.assert_array_equal(first["boxes"], expected["boxes"])
    np.testing.assert_array_equal(first["actions"], expected["actions"])
