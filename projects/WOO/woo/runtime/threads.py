"""How many threads a ``woo`` command computes with, chosen once per process.

PyTorch's default is one intra-op thread per core, with OpenMP threads that spin while they
wait. On a machine whose cores are shared (DataLoader workers, a decoder thread, someone
else's job) those threads wait on one another and a step can take many times longer
(``benchmarks/threads.py`` measures it). So every command:

* runs with OpenMP's wait policy ``PASSIVE`` (a waiting thread sleeps instead of spinning),
  unless ``OMP_WAIT_POLICY`` is set already or ``--threads 0`` asks for PyTorch's defaults:
  ``woo.cli`` sets it before it imports this module, since OpenMP reads it once, when torch loads;
* gives the main process every core of its share (:func:`choose_intra_op_threads`);
  ``--threads N`` overrides (0: PyTorch's own defaults), and so does ``OMP_NUM_THREADS`` when set;
* runs each DataLoader worker with one thread: :func:`init_data_worker`.
"""
import argparse
import logging
import os
import signal
from typing import Optional

import cv2
import torch

__all__ = ["WAIT_POLICY", "add_threads_argument", "available_cores", "choose_intra_op_threads",
           "configure_threads", "init_data_worker"]

logger = logging.getLogger("woo.threads")

WAIT_POLICY = "OMP_WAIT_POLICY"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_intra_op_threads(cores: int, data_workers: int = 0, processes: int = 1) -> int:
    """Intra-op threads of one of ``processes`` processes sharing ``cores``: its share, at least one.

    Its ``data_workers`` (one thread each) do not reduce it: with the passive wait policy the
    main process's threads sleep while it waits for a batch, and on a 2-core machine, loaded or
    not, 2 threads beside WOO_Tiny's one worker trained faster than 1 (``benchmarks/threads.py``).
    """
    del data_workers  # measured: see above
    return max(1, cores // max(1, processes))


def add_threads_argument(parser) -> None:
    """The ``--threads`` flag every command shares."""
    parser.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help="intra-op threads of the main process (default: OMP_NUM_THREADS if set, else "
                             "the cores that the DataLoader workers leave, at least 1; 0: PyTorch's defaults, "
                             "one per core and OpenMP's spinning wait)")


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0: PyTorch's defaults), got {text!r}")
    return value


def configure_threads(requested: Optional[int] = None, *, data_workers: int = 0, processes: int = 1,
                      log: bool = True) -> str:
    """Set torch's and OpenCV's thread counts for this process; return (and log) the choice.

    Args:
        requested: ``--threads``: None takes ``OMP_NUM_THREADS`` when set, else chooses
            (:func:`choose_intra_op_threads`); 0 keeps PyTorch's defaults; N >= 1 uses N.
        data_workers: DataLoader workers of this process (they run one thread each).
        processes: processes of this job on this machine (e.g. ``--num-gpus``), sharing its cores.
        log: log the choice (once per command: the call that knows the data workers).

    Raises:
        ValueError: ``requested`` < 0.
    """
    if requested is not None and requested < 0:
        raise ValueError(f"--threads must be >= 0 (0: PyTorch's defaults), got {requested}")
    cores = available_cores()
    from_env = _env_thread_count()
    if requested == 0:
        chosen = "PyTorch's default"
    else:
        if requested:
            threads, chosen = requested, "--threads"
        elif from_env:
            threads, chosen = from_env, "OMP_NUM_THREADS"
        else:
            threads, chosen = choose_intra_op_threads(cores, data_workers, processes), "chosen"
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    count = torch.get_num_threads()
    workers = f", {data_workers} data worker{'s' if data_workers != 1 else ''} of 1 thread" if data_workers else ""
    shared = f", {processes} processes" if processes > 1 else ""
    policy = os.environ.get(WAIT_POLICY, "unset (OpenMP's default)")
    text = (f"threads: {count} intra-op ({chosen}; {cores} core{'s' if cores != 1 else ''}{shared}{workers}), "
            f"{WAIT_POLICY}={policy}")
    if log:
        logger.info(text)
    return text


def _env_thread_count() -> Optional[int]:
    """``OMP_NUM_THREADS`` as a count >= 1, or None (unset, or not one number)."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def init_data_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the DataLoaders: one thread per worker (torch sets its own count
    in workers; OpenCV's pool would otherwise take every core), and Ctrl-C left to the main
    process, which stops the workers itself (a worker stopped first would be reported as
    having died)."""
    del worker_id
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
