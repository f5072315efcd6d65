"""Run a function in one process or in a process group, as ``woo train`` and tests need.

Processes come from one of:

* ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in the environment):
  this process joins the group torchrun set up;
* ``num_gpus`` > 1 (and ``num_machines`` / ``machine_rank`` / ``dist_url`` for
  several machines): that many local processes are spawned here;
* neither: the function runs in this process, without torch.distributed.

The backend is the caller's choice: NCCL for CUDA, gloo otherwise (so several CPU
processes work too, e.g. for tests).
"""
import os
import socket
from datetime import timedelta
from typing import Callable, Tuple

import torch.distributed as dist
import torch.multiprocessing as mp

from woo.runtime import comm

__all__ = ["launch", "free_port"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(main_func: Callable, args: Tuple = (), *, num_gpus: int = 1, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", backend: str = "gloo") -> None:
    """Call ``main_func(*args)`` in every process of the job.

    Args:
        num_gpus: processes per machine.
        num_machines / machine_rank: machines in the job, and this one's rank.
        dist_url: init URL of the process group (``tcp://host:port``); "auto" picks a free
            local port (one machine only).
        backend: "nccl" or "gloo".

    Raises:
        ValueError: ``dist_url`` "auto" with several machines.
    """
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        # Started by torchrun: the environment describes the group.
        dist.init_process_group(backend=backend, init_method="env://")
        comm.set_local_rank(int(os.environ.get("LOCAL_RANK", 0)))
        try:
            main_func(*args)
        finally:
            dist.destroy_process_group()
        return
    world_size = num_gpus * num_machines
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto works on one machine only; pass tcp://host:port")
        dist_url = f"tcp://127.0.0.1:{free_port()}"
    mp.start_processes(_worker, nprocs=num_gpus,
                       args=(main_func, args, num_gpus, machine_rank, world_size, dist_url, backend),
                       start_method="spawn")


def _worker(local_rank: int, main_func: Callable, args: Tuple, num_gpus: int, machine_rank: int,
            world_size: int, dist_url: str, backend: str) -> None:
    dist.init_process_group(backend=backend, init_method=dist_url, world_size=world_size,
                            rank=machine_rank * num_gpus + local_rank, timeout=timedelta(minutes=30))
    comm.set_local_rank(local_rank)
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()
