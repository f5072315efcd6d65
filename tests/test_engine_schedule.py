"""Schedules in epochs (computed from the key frames loaded), REFERENCE_WORLD_SIZE scaling, and
which of SOLVER.MAX_ITER / SOLVER.MAX_EPOCHS wins."""
import os
import re
import shutil

import pytest
import torch

from woo.cli import main
from woo.config import get_cfg, load_config
from woo.data.build import get_dataset_dicts
from woo.engine.schedule import resolve_schedule, scale_to_world_size

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
AVA = os.path.join(REPO, "configs", "AVA-v2.2", "WOO_SlowFast_R50_8x8.yaml")

pytestmark = pytest.mark.usefixtures("woo_datasets")


@pytest.fixture
def epochs_config(tmp_path):
    """WOO_Instant in epochs on the 54 synthetic val key frames with actors: 1 epoch at batch 16
    is round(54 / 16) = 3 iterations, the LR step at epoch 0.5 is round(27 / 16) = iteration 2."""
    path = tmp_path / "epochs.yaml"
    path.write_text(
        f'_BASE_: "{INSTANT}"\n'
        "SOLVER:\n  MAX_EPOCHS: 1\n  STEPS_EPOCHS: (0.5,)\n  IMS_PER_BATCH: 16\n  WARMUP_ITERS: 5\n"
        "  CHECKPOINT_PERIOD: 1\n"
        'DATASETS:\n  TRAIN: ("woo_synthetic_val",)\n  TEST: ()\n'
        "DATALOADER:\n  FILTER_EMPTY_ANNOTATIONS: True\n"
    )
    return str(path)


def _log(out_dir) -> str:
    with open(os.path.join(out_dir, "log.txt")) as f:
        return f.read()


def _lrs(out_dir):
    return re.findall(r"iter (\d+)/(\d+) total_loss (\S+) .* lr (\S+)", _log(out_dir))


def test_key_frames_batch_and_steps_give_the_iterations(caplog):
    cfg = load_config(AVA)
    assert (cfg.SOLVER.MAX_EPOCHS, tuple(cfg.SOLVER.STEPS_EPOCHS)) == (12, (6, 10))
    with caplog.at_level("INFO", logger="woo.engine.schedule"):
        out = resolve_schedule(cfg, 184804)
    # 184804 / 16 = 11550.25 iterations per epoch
    assert out.SOLVER.MAX_ITER == 138603 and tuple(out.SOLVER.STEPS) == (69302, 115503)
    assert out.SOLVER.WARMUP_ITERS == 1000
    assert (out.SOLVER.MAX_EPOCHS, tuple(out.SOLVER.STEPS_EPOCHS)) == (0, ())  # resolved: in iterations now
    assert caplog.messages == ["Schedule: 12 epochs of 184804 key frames at batch 16 = 138603 iterations, LR steps "
                               "at epochs 6, 10 = iterations 69302, 115503, warm-up 1000 iterations"]
    assert resolve_schedule(out, 1).SOLVER.MAX_ITER == 138603  # resolving again changes nothing
    # The synthetic split: key frames counted after FILTER_EMPTY_ANNOTATIONS.
    records = get_dataset_dicts(["woo_synthetic_train"], filter_empty=True)
    assert (len(records), len(get_dataset_dicts(["woo_synthetic_train"]))) == (166, 190)
    small = load_config(INSTANT, ["SOLVER.MAX_EPOCHS", "3", "SOLVER.STEPS_EPOCHS", "(1.5, 2.5)",
                                  "SOLVER.IMS_PER_BATCH", "8"])
    small = resolve_schedule(small, len(records))
    assert small.SOLVER.MAX_ITER == 62 and tuple(small.SOLVER.STEPS) == (31, 52)  # 166 * 3 / 8 = 62.25


@pytest.mark.parametrize("opts, message", [
    (["SOLVER.STEPS_EPOCHS", "(2, 1)"], r"SOLVER.STEPS_EPOCHS must be increasing positive epochs, got \(2, 1\)"),
    (["SOLVER.STEPS_EPOCHS", "(0,)"], r"SOLVER.STEPS_EPOCHS must be increasing positive epochs"),
    (["SOLVER.MAX_EPOCHS", "-1"], r"SOLVER.MAX_EPOCHS must be >= 0"),
])
def test_bad_epoch_keys_are_refused_when_the_config_loads(opts, message):
    with pytest.raises(ValueError, match=message):
        load_config(INSTANT, opts)


def test_epoch_steps_closer_than_an_iteration_name_the_key():
    cfg = load_config(INSTANT, ["SOLVER.MAX_EPOCHS", "1", "SOLVER.STEPS_EPOCHS", "(0.01, 0.02)"])
    with pytest.raises(ValueError, match=r"SOLVER.STEPS_EPOCHS \(0.01, 0.02\) falls on iterations \(1, 1\) with "
                                         r"100 key frames at batch 2: LR steps must be distinct"):
        resolve_schedule(cfg, 100)


def test_command_line_iterations_win_over_epochs_of_the_file(tmp_path, epochs_config):
    cfg = load_config(epochs_config, ["SOLVER.MAX_ITER", "20"])
    # The length is the command line's; the LR steps stay the file's epochs.
    assert (cfg.SOLVER.MAX_EPOCHS, cfg.SOLVER.MAX_ITER, tuple(cfg.SOLVER.STEPS_EPOCHS)) == (0, 20, (0.5,))
    cfg = load_config(epochs_config, ["SOLVER.STEPS", "(7,)"])
    assert (cfg.SOLVER.MAX_EPOCHS, tuple(cfg.SOLVER.STEPS), tuple(cfg.SOLVER.STEPS_EPOCHS)) == (1, (7,), ())
    # A file in epochs over a base in iterations (WOO_Instant sets MAX_ITER) is in epochs.
    assert load_config(epochs_config).SOLVER.MAX_EPOCHS == 1
    with pytest.raises(ValueError, match=r"the command line sets both SOLVER.MAX_ITER \(20\) and SOLVER.MAX_EPOCHS"):
        load_config(epochs_config, ["SOLVER.MAX_ITER", "20", "SOLVER.MAX_EPOCHS", "2"])
    both = tmp_path / "both.yaml"
    both.write_text(f'_BASE_: "{AVA}"\nSOLVER:\n  MAX_ITER: 5000\n  MAX_EPOCHS: 3\n')
    with pytest.raises(ValueError, match=rf"{re.escape(str(both))} sets both SOLVER.MAX_ITER \(5000\) and "
                                         r"SOLVER.MAX_EPOCHS \(3\)"):
        load_config(str(both))
    # Iterations over an epoch base, and a file with both keys but epochs off (a run's config.yaml).
    iterations = tmp_path / "iterations.yaml"
    iterations.write_text(f'_BASE_: "{AVA}"\nSOLVER:\n  MAX_ITER: 5000\n  STEPS: (4000,)\n')
    cfg = load_config(str(iterations))
    assert (cfg.SOLVER.MAX_EPOCHS, tuple(cfg.SOLVER.STEPS_EPOCHS), cfg.SOLVER.MAX_ITER) == (0, (), 5000)
    dumped = tmp_path / "config.yaml"
    dumped.write_text(resolve_schedule(load_config(AVA), 1000).dump())
    assert load_config(str(dumped)).SOLVER.MAX_ITER == 750


def test_woo_train_in_epochs_logs_the_schedule_and_resume_keeps_it(tmp_path, epochs_config):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert main(["train", "--config-file", epochs_config, "OUTPUT_DIR", str(full)]) == 0
    line = ("Schedule: 1 epoch of 54 key frames at batch 16 = 3 iterations, LR steps at epochs 0.5 = "
            "iterations 2, warm-up 5 iterations")
    assert _log(full).count(line) == 1
    assert [(it, total) for it, total, _, _ in _lrs(full)] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert load_config(str(full / "config.yaml")).SOLVER.MAX_ITER == 3
    # Interrupted after iteration 1: the resumed run resolves the same schedule and LR curve.
    resumed.mkdir()
    shutil.copy(full / "model_0000000.pth", resumed)
    (resumed / "last_checkpoint").write_text("model_0000000.pth")
    assert main(["train", "--config-file", epochs_config, "--resume", "OUTPUT_DIR", str(resumed)]) == 0
    assert line in _log(resumed) and "LR schedule" not in _log(resumed)
    assert _lrs(resumed) == _lrs(full)[1:]
    saved = torch.load(full / "model_0000001.pth", weights_only=True)["scheduler"]
    assert saved == torch.load(resumed / "model_0000001.pth", weights_only=True)["scheduler"]
    assert (saved["max_iter"], saved["steps"]) == (3, [2])
    # Resumed with another batch: another schedule, and a warning naming both.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(full / "model_0000000.pth", other)
    (other / "last_checkpoint").write_text("model_0000000.pth")
    assert main(["train", "--config-file", epochs_config, "--resume", "OUTPUT_DIR", str(other),
                 "SOLVER.IMS_PER_BATCH", "8"]) == 0
    assert ("the checkpoint's LR schedule (3 iterations, LR steps at [2]) is not this run's (7 iterations, LR "
            "steps at [3])") in _log(other)


def test_max_iter_on_the_command_line_is_a_smoke_run_of_an_epoch_config(tmp_path, epochs_config):
    out = tmp_path / "smoke"
    assert main(["train", "--config-file", epochs_config, "SOLVER.MAX_ITER", "2", "OUTPUT_DIR", str(out)]) == 0
    log = _log(out)
    assert [(it, total) for it, total, _, _ in _lrs(out)] == [("1", "2"), ("2", "2")]
    assert ("Schedule: 2 iterations (SOLVER.MAX_ITER) at batch 16 = 0.593 epochs of 54 key frames, LR steps at "
            "epochs 0.5 = iterations 2") in log
    # optim's detectron2 habits: steps past the run dropped, the warm-up cut to it, with warnings.
    assert "SOLVER.STEPS (2,) at or past SOLVER.MAX_ITER=2 are ignored" in log
    assert "SOLVER.WARMUP_ITERS=5 covers all of SOLVER.MAX_ITER=2" in log


@pytest.mark.parametrize("world_size", [1, 2, 4, 8, 16])
def test_reference_world_size_scales_as_detectron2(world_size):
    cfg = load_config(AVA, ["SOLVER.REFERENCE_WORLD_SIZE", "8", "SOLVER.MAX_ITER", "5000", "SOLVER.STEPS",
                            "(4000,)", "TEST.EVAL_PERIOD", "1000"])
    ours = scale_to_world_size(cfg, world_size)
    scale = world_size / 8
    assert ours.SOLVER.IMS_PER_BATCH == 16 * scale and ours.SOLVER.BASE_LR == pytest.approx(2.5e-5 * scale)
    assert ours.SOLVER.WARMUP_ITERS == round(1000 / scale) and ours.SOLVER.REFERENCE_WORLD_SIZE == world_size
    assert scale_to_world_size(ours, world_size) is ours  # scaling twice changes nothing
    # Epochs stay epochs: the iterations follow the scaled batch.
    epochs = scale_to_world_size(load_config(AVA, ["SOLVER.REFERENCE_WORLD_SIZE", "8"]), world_size)
    resolved = resolve_schedule(epochs, 184804)
    assert resolved.SOLVER.MAX_ITER == round(12 * 184804 / (16 * scale))
    defaults = pytest.importorskip("detectron2.engine.defaults")
    from woo.d2 import get_cfg as get_d2_cfg

    d2_cfg = get_d2_cfg()
    d2_cfg.merge_from_other_cfg(cfg)
    theirs = defaults.DefaultTrainer.auto_scale_workers(d2_cfg, world_size)
    for key in ("IMS_PER_BATCH", "BASE_LR", "MAX_ITER", "STEPS", "WARMUP_ITERS", "CHECKPOINT_PERIOD",
                "REFERENCE_WORLD_SIZE"):
        assert ours.SOLVER[key] == theirs.SOLVER[key], key
    assert ours.TEST.EVAL_PERIOD == theirs.TEST.EVAL_PERIOD


def test_woo_train_on_fewer_gpus_than_the_reference_keeps_the_epochs(tmp_path, epochs_config, monkeypatch):
    """Rank 0 of 2 processes, simulated: no process group, the loader takes half of each batch."""
    from woo.runtime import comm

    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    out = tmp_path / "two"
    assert main(["train", "--config-file", epochs_config, "SOLVER.REFERENCE_WORLD_SIZE", "4",
                 "OUTPUT_DIR", str(out)]) == 0
    log = _log(out)
    assert "SOLVER.REFERENCE_WORLD_SIZE 4 -> 2 processes: batch 8 (4 per process), BASE_LR 0.00025" in log
    # 54 / 8 = 6.75: 7 iterations; the step at epoch 0.5 at round(3.375) = 3.
    assert "1 epoch of 54 key frames at batch 8 = 7 iterations, LR steps at epochs 0.5 = iterations 3" in log
    assert len(_lrs(out)) == 7


def test_unresolved_epochs_are_refused_by_the_trainer():
    from woo.engine.trainer import Trainer

    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.SOLVER.MAX_EPOCHS = 1
    cfg.SEED = 0
    with pytest.raises(ValueError, match="resolve_schedule"):
        Trainer(cfg).train()
