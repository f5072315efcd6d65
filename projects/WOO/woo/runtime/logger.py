"""The one logging set-up of every ``woo`` command and of training runs."""
import logging
import os
import sys
from typing import List

__all__ = ["setup_logger"]

_LOG_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is at the time of each record, so a
    command run twice in one process (tests, notebooks) never writes to a stream closed since."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    @property
    def stream(self):
        return getattr(sys, self._name)

    @stream.setter
    def stream(self, value):  # logging.StreamHandler.__init__ assigns it; the property decides
        pass


def setup_logger(output_dir: str = "", rank: int = 0, name: str = "woo", *, stream: str = "stdout",
                 level: int = logging.INFO) -> logging.Logger:
    """Log ``name`` (and fvcore) at ``level`` to the console on rank 0 and to ``output_dir/log.txt``.

    Other ranks log to ``log.txt.rank<r>`` only, so the console shows one copy.
    Calling it again replaces the handlers it set before.

    Args:
        output_dir: folder of ``log.txt`` ("" logs to the console only).
        rank: this process's rank.
        name: the logger configured (its children inherit it).
        stream: "stdout" (default) or "stderr" (commands whose stdout is their result,
            such as ``woo ava-eval``).
        level: the least level logged.
    """
    formatter = logging.Formatter(_LOG_FORMAT, datefmt="%m/%d %H:%M:%S")
    handlers: List[logging.Handler] = []
    if rank == 0:
        console = _ConsoleHandler(stream)
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
        logger.setLevel(level)
        logger.propagate = False
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
    return logging.getLogger(name)
