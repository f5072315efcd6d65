"""Caffe2 weight pickles, as PySlowFast's model zoo ships its Kinetics checkpoints.

A file such as ``SLOWFAST_8x8_R50.pkl`` is a Python 2 pickle of a dict whose key
``"blobs"`` maps Caffe2 blob names (``conv1_w``, ``res2_0_branch2a_bn_s``, ...) to
numpy arrays. Beside the weights it holds the SGD momentum of each (``*_momentum``)
and training counters (``lr``, ``model_iter``), which initialization has no use for.
"""
from dataclasses import dataclass, field
from numbers import Number
from typing import Dict, List

import numpy as np

from .safe_pickle import load_array_pickle

__all__ = ["Caffe2Blobs", "read_caffe2_blobs"]

# Training state in the blobs, not weights: the solver's counters.
_COUNTERS = frozenset({"lr", "model_iter"})


@dataclass
class Caffe2Blobs:
    """The weights of a Caffe2 pickle.

    Attributes:
        path: the file.
        blobs: blob name -> array, in the file's order.
        skipped: names of the optimizer state and counters left out.
    """

    path: str
    blobs: Dict[str, np.ndarray] = field(default_factory=dict)
    skipped: List[str] = field(default_factory=list)


def read_caffe2_blobs(path: str) -> Caffe2Blobs:
    """Read the blobs of a Caffe2 ``.pkl`` with the restricted unpickler
    (:func:`woo.formats.safe_pickle.load_array_pickle`).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file: a refused global, no ``"blobs"`` dict, or a blob
            that is not a numeric array or a number (named too).
    """
    data = load_array_pickle(path, "Caffe2 checkpoint")
    if not isinstance(data, dict) or not isinstance(data.get("blobs"), dict):
        found = f"keys {sorted(map(str, data))}" if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: not a Caffe2 checkpoint: expected a dict with 'blobs' (name -> array), found {found}")
    out = Caffe2Blobs(path)
    for name, value in data["blobs"].items():
        name = str(name)
        if name.endswith("_momentum") or name in _COUNTERS:
            out.skipped.append(name)
            continue
        if isinstance(value, Number):  # numpy scalars included
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: blob {name!r} is a {type(value).__name__}, not an array")
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{path}: blob {name!r} holds {value.dtype}, not numbers")
        out.blobs[name] = value
    return out
