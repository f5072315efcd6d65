"""Per-process set-up of a run: config, logging, seeds."""
import logging
import os
import random
import sys
from typing import List, Optional

import numpy as np
import torch

from woo.config import CfgNode, get_cfg

from woo.utils import comm

__all__ = ["load_config", "setup_logger", "seed_all_rng", "resolve_seed"]

_LOG_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"


def load_config(config_file: str, opts: Optional[List[str]] = None) -> CfgNode:
    """WOO defaults, merged with ``config_file`` and then ``opts`` (KEY VALUE pairs).

    Raises:
        FileNotFoundError: ``config_file`` does not exist.
        KeyError: the file or ``opts`` name a key WOO does not have.
    """
    cfg = get_cfg()
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file not found: {config_file}")
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts or []))
    return cfg


def setup_logger(output_dir: str, rank: int, name: str = "woo") -> logging.Logger:
    """Log ``name`` (and fvcore) to the console on rank 0 and to ``output_dir/log.txt``.

    Other ranks log to ``log.txt.rank<r>`` only, so the console shows one copy.
    """
    formatter = logging.Formatter(_LOG_FORMAT, datefmt="%m/%d %H:%M:%S")
    handlers: List[logging.Handler] = []
    if rank == 0:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(formatter)
        handlers.append(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        filename = os.path.join(output_dir, "log.txt" if rank == 0 else f"log.txt.rank{rank}")
        file_handler = logging.FileHandler(filename)
        file_handler.setFormatter(formatter)
        handlers.append(file_handler)
    for logger_name in (name, "fvcore"):
        logger = logging.getLogger(logger_name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
    return logging.getLogger(name)


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
