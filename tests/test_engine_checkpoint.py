"""Atomic, safe checkpoints and RNG state of woo.runtime.checkpoint."""
import errno
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from woo.runtime.checkpoint import CheckpointError, WooCheckpointer, get_rng_state, set_rng_state


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


class _DiskFillsUp:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written, as on a full disk."""

    def __init__(self, f, room: int):
        self._f, self._room = f, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_full_disk_names_the_file_and_removes_the_partial_one(tmp_path, monkeypatch):
    model = nn.Linear(64, 64)
    ckpt = WooCheckpointer(model, str(tmp_path), optimizer=torch.optim.AdamW(model.parameters()))
    ckpt.save("model_0000000", iteration=0)
    real_fdopen = os.fdopen
    monkeypatch.setattr("woo.runtime.checkpoint.os.fdopen", lambda fd, mode: _DiskFillsUp(real_fdopen(fd, mode), 2000))
    with pytest.raises(CheckpointError) as info:
        ckpt.save("model_0000001", iteration=1)
    message = str(info.value)
    assert str(tmp_path / "model_0000001.pth") in message and "no space left" in message
    assert "\n" not in message
    monkeypatch.undo()
    # Only the earlier checkpoint is there, still the last one, and no temporary file.
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000000.pth"]
    assert ckpt.get_checkpoint_file() == str(tmp_path / "model_0000000.pth")


def test_model_only_save_leaves_out_the_optimizer(tmp_path):
    model = nn.Linear(8, 8)
    ckpt = WooCheckpointer(model, str(tmp_path), optimizer=torch.optim.AdamW(model.parameters()))
    ckpt.save("model_final", model_only=True, iteration=7)
    data = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert set(data) == {"model", "model_only", "iteration"} and data["iteration"] == 7
