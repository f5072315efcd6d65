"""Atomic, safe checkpoints and RNG state of woo.engine.checkpoint."""
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from woo.engine.checkpoint import CheckpointError, WooCheckpointer, get_rng_state, set_rng_state


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    model = nn.Linear(2, 2)
    ckpt = WooCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001", iteration=1, rng=get_rng_state())
    expected = _draws()
    _draws()  # move every generator on
    extra = WooCheckpointer(nn.Linear(2, 2), str(tmp_path)).load(str(tmp_path / "model_0000001.pth"))
    assert extra["iteration"] == 1
    set_rng_state(extra["rng"])
    assert _draws() == expected


def test_save_is_atomic_and_tags_last_checkpoint(tmp_path):
    model = nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    ckpt = WooCheckpointer(model, str(tmp_path), optimizer=opt)
    ckpt.save("model_final", iteration=3)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]
    assert ckpt.get_checkpoint_file() == str(tmp_path / "model_final.pth")
    other = nn.Linear(2, 2)
    WooCheckpointer(other, str(tmp_path)).load(ckpt.get_checkpoint_file())
    assert torch.equal(other.weight, model.weight)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    model = nn.Linear(4, 4)
    WooCheckpointer(model, str(tmp_path)).save("model_final")
    path = tmp_path / "model_final.pth"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = nn.Linear(4, 4)
    weight = before.weight.detach().clone()
    with pytest.raises(CheckpointError, match="model_final.pth"):
        WooCheckpointer(before, str(tmp_path)).load(str(path))
    assert torch.equal(before.weight, weight)


def test_garbage_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        WooCheckpointer(nn.Linear(1, 1), str(tmp_path)).load(str(path))
    with pytest.raises(CheckpointError, match="nope.pth"):
        WooCheckpointer(nn.Linear(1, 1), str(tmp_path)).load(str(tmp_path / "nope.pth"))
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="'model'"):
        WooCheckpointer(nn.Linear(1, 1), str(tmp_path)).load(str(tmp_path / "list.pth"))
