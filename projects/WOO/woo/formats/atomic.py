"""Files written whole or not at all: a temporary file beside the target, then ``os.replace``."""
import os
from typing import BinaryIO, Callable

__all__ = ["write_atomically"]


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a binary file that becomes ``path`` only once it returns.

    The folder is created; on any error (a full disk, an interrupt) the
    temporary file is removed and ``path`` is left as it was.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
