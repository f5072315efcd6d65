"""Seeds of a run: one seed every process agrees on, and the global generators."""
import os
import random

import numpy as np
import torch

from woo.runtime import comm

__all__ = ["resolve_seed", "seed_all_rng"]


def resolve_seed(seed: int) -> int:
    """``seed``, or for a negative one a fresh seed that every process agrees on."""
    if seed < 0:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    return int(comm.broadcast_object(seed))


def seed_all_rng(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
