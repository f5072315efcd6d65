"""Run a function in one process or in a process group, as ``woo train`` and tests need.

Processes come from one of:

* ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in the environment):
  this process joins the group torchrun set up;
* ``num_gpus`` > 1 (and ``num_machines`` / ``machine_rank`` / ``dist_url`` for
  several machines): that many local processes are spawned here;
* neither: the function runs in this process, without torch.distributed.

The backend is the caller's choice: NCCL for CUDA, gloo otherwise (so several CPU
processes work too, e.g. for tests).

Ctrl-C reaches every local process. The spawning process then waits for the others to
stop and raises ``KeyboardInterrupt`` with rank 0's message (e.g. where ``--resume``
continues), so that the command reports it once; also when a Ctrl-C (SIGINT) reached some
of the processes only, and they stopped together. A process that has not stopped
``stop_timeout`` seconds after the Ctrl-C is terminated, and a warning names its rank.
"""
import logging
import os
import signal
import socket
import tempfile
import time
from datetime import timedelta
from typing import Callable, Tuple

import torch.distributed as dist
import torch.multiprocessing as mp

from woo.runtime import comm

__all__ = ["launch", "free_port"]

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(main_func: Callable, args: Tuple = (), *, num_gpus: int = 1, num_machines: int = 1,
           machine_rank: int = 0, dist_url: str = "auto", backend: str = "gloo",
           stop_timeout: float = 120.0) -> None:
    """Call ``main_func(*args)`` in every process of the job.

    Args:
        num_gpus: processes per machine.
        num_machines / machine_rank: machines in the job, and this one's rank.
        dist_url: init URL of the process group (``tcp://host:port``); "auto" picks a free
            local port (one machine only).
        backend: "nccl" or "gloo".
        stop_timeout: seconds the spawned processes get, after Ctrl-C, to finish their
            iteration, save and stop, before the ones still running are terminated.

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
    with tempfile.TemporaryDirectory(prefix="woo_launch_") as tmp:
        interrupt_file = os.path.join(tmp, "interrupted")
        context = mp.start_processes(
            _worker, nprocs=num_gpus, join=False, start_method="spawn",
            args=(main_func, args, num_gpus, machine_rank, world_size, dist_url, backend, interrupt_file))
        try:
            while not context.join():
                pass
        except KeyboardInterrupt:
            # The processes got the same Ctrl-C: let them save and stop, then say what rank 0 left.
            # A second Ctrl-C reaches them as well and stops them at once; here it must not cut
            # the bounded wait short, which would lose rank 0's message (its checkpoint).
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                _join_or_terminate(context.processes, machine_rank * num_gpus, stop_timeout)
            finally:
                signal.signal(signal.SIGINT, previous)
        else:
            # The processes end without error also when a Ctrl-C reached only some of them
            # (torch.multiprocessing takes KeyboardInterrupt as a normal end): rank 0 says so.
            if not os.path.isfile(interrupt_file):
                return
        message = None
        if os.path.isfile(interrupt_file):
            with open(interrupt_file, encoding="utf-8") as f:
                message = f.read()
        raise KeyboardInterrupt(*([message] if message else [])) from None


def _join_or_terminate(processes, first_rank: int, timeout: float) -> None:
    """Wait up to ``timeout`` s in all for ``processes`` (ranks ``first_rank``, ``first_rank`` + 1,
    ...) to end; terminate those still running, with a warning that names their ranks."""
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    stuck = [first_rank + i for i, process in enumerate(processes) if process.is_alive()]
    if not stuck:
        return
    logger.warning("rank%s %s did not stop within %.0f s of Ctrl-C: terminating %s",
                   "s" if len(stuck) > 1 else "", ", ".join(map(str, stuck)), timeout,
                   "them" if len(stuck) > 1 else "it")
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(10.0)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(local_rank: int, main_func: Callable, args: Tuple, num_gpus: int, machine_rank: int,
            world_size: int, dist_url: str, backend: str, interrupt_file: str) -> None:
    rank = machine_rank * num_gpus + local_rank
    dist.init_process_group(backend=backend, init_method=dist_url, world_size=world_size,
                            rank=rank, timeout=timedelta(minutes=30))
    comm.set_local_rank(local_rank)
    try:
        main_func(*args)
    except KeyboardInterrupt as e:
        if rank == 0 and e.args:
            with open(interrupt_file, "w", encoding="utf-8") as f:
                f.write(str(e.args[0]))
        raise
    finally:
        dist.destroy_process_group()
