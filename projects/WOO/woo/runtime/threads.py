"""How many threads a ``woo`` command computes with, chosen once per process.

PyTorch's default is one intra-op thread per core, with OpenMP threads that spin while they
wait. On a machine whose cores are shared (DataLoader workers, a decoder thread, someone
else's job) those threads wait on one another and a step can take many times longer
(``benchmarks/threads.py`` measures it). So every command:

* runs with OpenMP's wait policy ``PASSIVE`` (a waiting thread sleeps instead of spinning)
  after a short spin (``GOMP_SPINCOUNT``: ``woo.cli.WAIT_SPINS``), unless ``OMP_WAIT_POLICY``
  is set already or ``--threads 0`` asks for PyTorch's defaults: ``woo.cli`` sets them before
  it imports this module, since OpenMP reads them once, when torch loads;
* gives the main process the cores of its share that other processes do not keep busy when
  the command starts (:func:`busy_cores_elsewhere`, :func:`choose_intra_op_threads`);
  ``--threads N`` overrides (0: PyTorch's own defaults), and so does ``OMP_NUM_THREADS`` when set;
* runs each DataLoader worker with one thread: :func:`init_data_worker`.
"""
import argparse
import logging
import os
import signal
import time
from typing import Optional

import cv2
import torch

__all__ = ["BUSY_CORES_ENV", "WAIT_POLICY", "add_threads_argument", "available_cores", "busy_cores_elsewhere",
           "choose_intra_op_threads", "configure_threads", "init_data_worker"]

logger = logging.getLogger("woo.threads")

WAIT_POLICY = "OMP_WAIT_POLICY"
# The machine's load as a command measured it when it started, for its later thread choices and
# for the processes it starts (their own measurement would count their siblings as load).
BUSY_CORES_ENV = "WOO_BUSY_CORES"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_intra_op_threads(cores: int, data_workers: int = 0, processes: int = 1, busy: float = 0.0) -> int:
    """Intra-op threads of one of ``processes`` processes sharing ``cores``: its share of the
    cores that ``busy`` cores' worth of other processes leave free, at least one.

    Its ``data_workers`` (one thread each) do not reduce it: with the passive wait policy the
    main process's threads sleep while it waits for a batch, and on an idle 2-core machine
    2 threads beside WOO_Tiny's one worker trained faster than 1. Beside a busy process,
    a thread per free core trained fastest (``benchmarks/threads.py``).
    """
    del data_workers  # measured: see above
    processes = max(1, processes)
    free = cores - int(round(max(0.0, busy)))
    return max(1, min(cores // processes, free // processes))


def busy_cores_elsewhere(samples: int = 10, interval_s: float = 0.01) -> float:
    """Cores of this process's share that other processes keep busy now.

    The mean of ``procs_running`` (/proc/stat: tasks running or ready to run, machine-wide) over
    ``samples`` readings ``interval_s`` apart, less this reading thread and, under ``torchrun``,
    the ``LOCAL_WORLD_SIZE - 1`` sibling ranks; scaled to this process's share of the machine's
    CPUs (``available_cores() / os.cpu_count()``), as the others' tasks may run on any of them.
    0.0 where /proc/stat cannot be read (not Linux).
    """
    counts = []
    for i in range(samples):
        try:
            with open("/proc/stat") as f:
                running = next((int(line.split()[1]) for line in f if line.startswith("procs_running ")), None)
        except (OSError, ValueError, IndexError):
            running = None
        if running is None:
            return 0.0
        counts.append(running)
        if i + 1 < samples:
            time.sleep(interval_s)
    siblings = max(0, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1) - 1)
    others = max(0.0, sum(counts) / len(counts) - 1 - siblings)
    return others * available_cores() / max(1, os.cpu_count() or 1)


def _busy_cores() -> float:
    """``WOO_BUSY_CORES`` when set (``woo.cli`` measures once per command and sets it, so
    that the processes the command starts use that measurement), else
    :func:`busy_cores_elsewhere` now."""
    try:
        return max(0.0, float(os.environ[BUSY_CORES_ENV]))
    except (KeyError, ValueError):
        return busy_cores_elsewhere()


def add_threads_argument(parser) -> None:
    """The ``--threads`` flag every command shares."""
    parser.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help="intra-op threads of the main process (default: OMP_NUM_THREADS if set, else "
                             "the cores that other processes do not keep busy when the command starts, at least 1; "
                             "0: PyTorch's defaults, one per core and OpenMP's spinning wait)")


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
            (:func:`choose_intra_op_threads`, given the load the command's first call measured:
            :func:`busy_cores_elsewhere`); 0 keeps PyTorch's defaults; N >= 1 uses N.
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
    busy = None
    if requested == 0:
        chosen = "PyTorch's default"
    else:
        if requested:
            threads, chosen = requested, "--threads"
        elif from_env:
            threads, chosen = from_env, "OMP_NUM_THREADS"
        else:
            busy = _busy_cores()
            threads, chosen = choose_intra_op_threads(cores, data_workers, processes, busy), "chosen"
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    count = torch.get_num_threads()
    workers = f", {data_workers} data worker{'s' if data_workers != 1 else ''} of 1 thread" if data_workers else ""
    shared = f", {processes} processes" if processes > 1 else ""
    if busy is not None:
        shared += f", {busy:.1f} kept busy by other processes"
    policy = os.environ.get(WAIT_POLICY, "unset (OpenMP's default)")
    spins = f", GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}" if "GOMP_SPINCOUNT" in os.environ else ""
    text = (f"threads: {count} intra-op ({chosen}; {cores} core{'s' if cores != 1 else ''}{shared}{workers}), "
            f"{WAIT_POLICY}={policy}{spins}")
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
