"""`woo train` end to end on the instant config: outputs, resume, determinism, errors."""
import json
import os
import re
import shutil

import pytest
import torch

from woo.cli import main
from woo.reports.evaluation_report import REPORT_FILES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
ACTIONS = ["stand", "walk", "bob", "carry", "crouch", "raise arm"]
NO_EVAL = ["DATASETS.TEST", "()"]


pytestmark = pytest.mark.usefixtures("woo_datasets")


def train(out_dir, *opts, flags=()):
    return main(["train", "--config-file", INSTANT, *flags, "OUTPUT_DIR", str(out_dir), *opts])


def losses(out_dir):
    with open(os.path.join(out_dir, "log.txt")) as f:
        return re.findall(r"iter (\d+)/\d+ total_loss (\S+)", f.read())


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_tensorboard_gets_losses_lr_and_periodic_frame_map(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert train(out, "TEST.EVAL_PERIOD", "2") == 0
    events = EventAccumulator(str(out))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"total_loss", "loss_action", "loss_giou_0", "lr", "frame_mAP@0.5", "frame_mAP@0.5_pyslowfast"} <= tags
    periodic, final = events.Scalars("frame_mAP@0.5")  # at iteration 2 of 4, and at the end
    assert periodic.step == 2 and 0.0 <= periodic.value <= 1.0
    metrics = json.loads((out / "metrics.json").read_text())
    assert final.step == 4 and final.value == pytest.approx(metrics["frame_mAP@0.5"])
    assert [e.step for e in events.Scalars("lr")] == [1, 2, 3, 4]
    # The per-class AP chart of each evaluation's report, as an image.
    charts = events.Images("per_class_AP")
    assert [e.step for e in charts] == [2, 4] and charts[-1].width > 100 and charts[-1].height > 100
    report = out / "inference" / "report"
    assert sorted(os.listdir(report)) == sorted(["index.html", *REPORT_FILES])
    assert (out / "inference" / "eval_details.npz").is_file()


@pytest.mark.slow
def test_train_then_eval_writes_metrics_detections_checkpoints(tmp_path):
    out = tmp_path / "run"
    assert train(out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"frame_mAP@0.5", "frame_mAP@0.5_pyslowfast", "per_class", "iteration"}
    assert metrics["iteration"] == 4  # iterations done, as the log's "iter 4/4"
    assert list(metrics["per_class"]) == ACTIONS
    assert 0.0 <= metrics["frame_mAP@0.5"] <= 1.0
    rows = (out / "inference" / "detections.csv").read_text().splitlines()
    assert rows
    key_frames = set()
    for row in rows:
        video, ts, x1, y1, x2, y2, action, score = row.split(",")
        assert len(ts) == 4 and 1 <= int(action) <= 6
        assert 0.0 <= float(x1) <= float(x2) <= 1.0 and 0.0 <= float(y1) <= float(y2) <= 1.0
        assert 0.0 <= float(score) <= 1.0
        key_frames.add((video, ts))
    assert all(v.startswith("val") for v, _ in key_frames)
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    assert (out / "model_0000001.pth").is_file() and (out / "model_final.pth").is_file()
    assert [int(i) for i, _ in losses(out)] == [1, 2, 3, 4]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out))
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]

    # Evaluating the final weights alone reproduces the numbers.
    eval_out = tmp_path / "eval"
    assert train(eval_out, "MODEL.WEIGHTS", str(out / "model_final.pth"), flags=["--eval-only"]) == 0
    again = json.loads((eval_out / "metrics.json").read_text())
    assert again["frame_mAP@0.5"] == metrics["frame_mAP@0.5"]
    assert (eval_out / "inference" / "detections.csv").read_text() == "\n".join(rows) + "\n"

    # Resuming a finished run trains nothing more and keeps the final weights.
    before = (out / "model_final.pth").read_bytes()
    assert train(out, *NO_EVAL, flags=["--resume"]) == 0
    assert (out / "model_final.pth").read_bytes() == before
    assert len(losses(out)) == 4


@pytest.mark.slow
def test_same_seed_same_losses_and_weights(tmp_path):
    assert train(tmp_path / "a", *NO_EVAL) == 0
    assert train(tmp_path / "b", *NO_EVAL) == 0
    assert train(tmp_path / "c", *NO_EVAL, "SEED", "1") == 0
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert losses(tmp_path / "a") != losses(tmp_path / "c")
    assert_same_weights(weights(tmp_path / "a" / "model_final.pth"), weights(tmp_path / "b" / "model_final.pth"))


@pytest.mark.slow
def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    every = ("SOLVER.CHECKPOINT_PERIOD", "1")
    assert train(full, *NO_EVAL, *every) == 0
    resumed.mkdir()
    shutil.copy(full / "model_0000001.pth", resumed)
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    assert train(resumed, *NO_EVAL, *every, flags=["--resume"]) == 0
    assert losses(resumed) == losses(full)[2:]
    final_full = torch.load(full / "model_final.pth", weights_only=True)
    final_resumed = torch.load(resumed / "model_final.pth", weights_only=True)
    assert_same_weights(final_full["model"], final_resumed["model"])
    assert final_resumed["iteration"] == 3
    # model_final.pth is the model alone; the full state is in the periodic checkpoints.
    assert "optimizer" not in final_resumed and final_resumed["model_only"] is True
    third_full = torch.load(full / "model_0000002.pth", weights_only=True)
    third_resumed = torch.load(resumed / "model_0000002.pth", weights_only=True)
    assert third_resumed["scheduler"] == third_full["scheduler"]
    for a, b in zip(third_full["optimizer"]["state"].values(), third_resumed["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


@pytest.mark.slow
def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, *NO_EVAL, "SOLVER.CHECKPOINT_PERIOD", "0") == 0
    final = out / "model_final.pth"
    final.write_bytes(final.read_bytes()[:1000])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "log.txt"}
    capsys.readouterr()
    assert train(out, *NO_EVAL, flags=["--resume"]) == 1
    err = capsys.readouterr().err
    assert "woo train: error:" in err and str(final) in err and "truncated or corrupt" in err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "log.txt"}
    assert after == before


def test_missing_dataset_is_a_clear_error_before_any_output(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WOO_DATASETS", str(tmp_path / "empty"))
    out = tmp_path / "run"
    assert train(out, "DATASETS.TRAIN", '("ava_v2.2_train",)') == 1
    err = capsys.readouterr().err
    assert "DATASETS.TRAIN" in err and os.path.join(str(tmp_path / "empty"), "ava") in err
    assert not out.exists()
    assert train(out, "DATASETS.TEST", '("ava_v9_val",)') == 1
    assert "unknown dataset 'ava_v9_val'" in capsys.readouterr().err


def test_wrong_key_or_config_file_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "SOLVER.MAX_ITERS", "5") == 1
    assert "SOLVER.MAX_ITERS" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(f'_BASE_: "{INSTANT}"\nSOLVER:\n  LR: 0.1\n')
    assert main(["train", "--config-file", str(bad), "OUTPUT_DIR", str(out)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "SOLVER.LR" in err
    assert main(["train", "--config-file", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_ava_eval_on_the_written_detections_gives_metrics_json_exactly(tmp_path):
    """detections.csv holds 3-decimal boxes and 6-decimal scores; training scores exactly those."""
    from woo.data.catalog import get_split

    out = tmp_path / "run"
    assert train(out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    split = get_split("woo_synthetic_val")
    for protocol, key in (("official", "frame_mAP@0.5"), ("pyslowfast", "frame_mAP@0.5_pyslowfast")):
        result = tmp_path / f"{protocol}.json"
        assert main(["ava-eval", "--labelmap", split.eval_label_map, "--groundtruth", split.annotations,
                     "--exclusions", split.exclusions, "--detections", str(out / "inference" / "detections.csv"),
                     "--protocol", protocol, "--json", str(result)]) == 0
        scored = json.loads(result.read_text())
        assert scored[key] == metrics[key], protocol
        if protocol == "official":
            assert scored["per_class"] == metrics["per_class"]
