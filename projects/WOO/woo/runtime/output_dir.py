"""The run's output folder: made ready (or a one-line error naming it), locked
against a second training, and where evaluation results go inside it."""
import errno
import fcntl
import logging
import os
import re
import socket
from typing import Optional, TextIO

__all__ = ["OutputDirError", "prepare_output_dir", "RunLock", "inference_dir"]

logger = logging.getLogger("woo.engine")


class OutputDirError(RuntimeError):
    """OUTPUT_DIR cannot be used: not a folder, not writable, or in use by another training."""


def prepare_output_dir(path: str) -> str:
    """Create ``path`` if needed and check that files can be written in it.

    Raises:
        OutputDirError: ``path`` is empty, an existing file, or cannot be created or written.
    """
    if not path:
        raise OutputDirError("OUTPUT_DIR is empty; set it to a folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputDirError(f"OUTPUT_DIR {path} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"OUTPUT_DIR {path} cannot be created: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(f"OUTPUT_DIR {path} is not writable")
    return path


def inference_dir(output_dir: str, dataset_name: str, num_datasets: int) -> str:
    """Folder of one test split's evaluation files: ``<output_dir>/inference``, or
    ``<output_dir>/inference/<dataset_name>`` when several splits are tested (a name that is a
    path, ``OUT/dataset.yaml:val``, with its separators and colons as ``_``)."""
    folder = os.path.join(output_dir, "inference")
    return os.path.join(folder, re.sub(r"[^\w.-]+", "_", dataset_name).strip("_")) if num_datasets > 1 else folder


class RunLock:
    """Exclusive lock of an output folder for one training, on ``<output_dir>/train.lock``.

    The lock is an ``flock`` on the file, which the kernel drops whenever the
    holder exits, SIGKILL included; a lock file left by a dead process is
    therefore no lock, and ``stale_holder`` says whose it was. The file holds the
    holder's pid and host for the message a second run prints. File systems
    without locks (some network mounts) get a warning and no lock.

    Args:
        output_dir: the folder to lock (must exist).
    """

    FILENAME = "train.lock"

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, self.FILENAME)
        self._file: Optional[TextIO] = None
        # What the lock file said when a dead holder had left it unreleased ("" if released).
        self.stale_holder = ""

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            OutputDirError: another live process holds it.
        """
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            folder = os.path.dirname(self.path)
            raise OutputDirError(
                f"OUTPUT_DIR {folder} is in use by another training ({holder}); wait for it to end "
                "or choose another OUTPUT_DIR (--eval-only runs are allowed)"
            ) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                f.close()
                raise
            f.close()
            logger.warning("cannot lock %s (%s): a second training in this folder is not prevented",
                           self.path, e.strerror)
            return
        f.seek(0)
        self.stale_holder = f.read().strip()
        f.truncate(0)
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        """Drop the lock; an empty lock file means it was released cleanly."""
        if self._file is None:
            return
        self._file.truncate(0)
        self._file.flush()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
