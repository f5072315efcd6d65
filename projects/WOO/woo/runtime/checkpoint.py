"""Checkpoints that survive a crash mid-write and resume training exactly.

:class:`WooCheckpointer` is an fvcore ``Checkpointer`` that writes every file
through a temporary file and ``os.replace`` (a killed process leaves either the
old file or the new one, never half of one), loads with
``torch.load(weights_only=True)``, and turns an unreadable file into an error
that names it. :func:`get_rng_state` / :func:`set_rng_state` carry the random
generators, so a resumed run draws the same numbers as an uninterrupted one.
"""
import os
import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer

from woo.formats.atomic import DiskFullError, atomic_write

__all__ = ["AtomicSaveMixin", "NewClassesMixin", "ACTION_CLASSIFIER", "WooCheckpointer", "CheckpointError",
           "get_rng_state", "set_rng_state"]


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, truncated, corrupt or not a WOO checkpoint."""


def _atomic_save(path: str, write_fn) -> None:
    """Call ``write_fn(file)`` on a temporary file next to ``path``, then move it into place.

    Raises:
        CheckpointError: naming ``path`` when the disk is full (the temporary file is removed).
    """
    try:
        with atomic_write(path, "wb", fsync=True) as f:
            write_fn(f)
    except DiskFullError:
        raise CheckpointError(
            f"cannot write {path}: no space left on device (the partial file was removed; "
            "free space or set SOLVER.CHECKPOINT_MAX_TO_KEEP)"
        ) from None


class AtomicSaveMixin:
    """Atomic ``save`` and ``tag_last_checkpoint`` for any fvcore ``Checkpointer``
    subclass (detectron2's ``DetectionCheckpointer`` included): put it first in the bases."""

    def save(self, name: str, *, model_only: bool = False, **kwargs: Any) -> None:
        """Write ``<save_dir>/<name>.pth`` atomically, then tag it as the last checkpoint.

        Args:
            name: file name without ``.pth``.
            model_only: write the model's state alone, without the other checkpointables
                (optimizer, scheduler, ...); the file records ``"model_only": True``.
            kwargs: extra entries, e.g. ``iteration``.
        """
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        if model_only:
            data["model_only"] = True
        else:
            for key, obj in self.checkpointables.items():
                data[key] = obj.state_dict()
        data.update(kwargs)
        save_file = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info(f"Saving checkpoint to {save_file}")
        _atomic_save(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(os.path.basename(save_file))

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        _atomic_save(path, lambda f: f.write(last_filename_basename.encode()))


# Parameters of the action classifier, whose rows are the classes of the dataset trained on.
ACTION_CLASSIFIER = ("roi_heads.action_head.classifier.weight", "roi_heads.action_head.classifier.bias")


class NewClassesMixin:
    """Loading weights trained on other action classes (say, AVA's 80) into a model of a set
    with its own: the action classifier is dropped, with a log line that says so, and trained
    anew; every other weight loads. For any fvcore ``Checkpointer`` subclass: put it first in the bases."""

    def _load_model(self, checkpoint: Dict[str, Any]):
        weights, own = checkpoint.get("model", {}), self.model.state_dict()
        dropped = [k for k in ACTION_CLASSIFIER if k in weights and k in own
                   and tuple(weights[k].shape) != tuple(own[k].shape)]
        if dropped:
            theirs, ours = weights[ACTION_CLASSIFIER[1]].shape[0], own[ACTION_CLASSIFIER[1]].shape[0]
            self.logger.warning(
                f"The checkpoint's action classifier has {theirs} classes and this model "
                f"{ours} (MODEL.WOO.NUM_ACTIONS): it is dropped and trained from scratch; every other weight loads"
            )
            checkpoint = {**checkpoint, "model": {k: v for k, v in weights.items() if k not in dropped}}
        return super()._load_model(checkpoint)


class WooCheckpointer(NewClassesMixin, AtomicSaveMixin, Checkpointer):
    """fvcore ``Checkpointer`` with atomic saves and safe, checked loads.

    Same constructor as fvcore's: ``WooCheckpointer(model, save_dir,
    optimizer=..., scheduler=...)``.
    """

    def load(self, path: str, checkpointables: Optional[List[str]] = None) -> Dict[str, Any]:
        """Load ``path`` (see fvcore); a missing file raises :class:`CheckpointError`."""
        if path and not os.path.isfile(path):
            raise CheckpointError(f"checkpoint file not found: {path}")
        return super().load(path, checkpointables=checkpointables)

    def _load_file(self, f: str) -> Dict[str, Any]:
        try:
            checkpoint = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for truncated/corrupt files
            raise CheckpointError(
                f"cannot read checkpoint {f} (truncated or corrupt?): {type(e).__name__}: {e}"
            ) from e
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
            raise CheckpointError(f"checkpoint {f} is not a dict with a 'model' state dict")
        return checkpoint


def get_rng_state() -> Dict[str, Any]:
    """States of Python's, NumPy's and torch's (CPU and CUDA) global generators.

    Stored as tensors, ints and tuples only, so ``weights_only`` loading accepts them.
    """
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the generators saved by :func:`get_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
