"""Files and folders that appear whole or not at all.

Everything WOO writes (checkpoints, metrics, detection CSVs, demo outputs,
generated datasets, frame lists) goes through a temporary name beside its final
path and ``os.replace``: a killed process leaves the old file or the new one,
never half of one, and a failed write removes its temporary file.
"""
import contextlib
import errno
import os
import shutil
import tempfile
from typing import IO, Dict, Iterator, Optional, Sequence

__all__ = ["DiskFullError", "atomic_write", "atomic_directory", "PendingFiles", "is_disk_full"]


class DiskFullError(OSError):
    """No space left to write a file; the message names the file."""


def is_disk_full(error: Optional[BaseException]) -> bool:
    """Whether ``error`` or an error it arose from is ENOSPC / EDQUOT (``torch.save`` wraps the
    file's ``OSError`` in a ``RuntimeError`` about an "unexpected pos")."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _raise_for(path: str, error: BaseException) -> None:
    """Re-raise a failed write as an error naming ``path``."""
    if is_disk_full(error):
        raise DiskFullError(errno.ENOSPC, f"cannot write {path}: no space left on device "
                                          "(the partial file was removed)") from None
    if isinstance(error, OSError) and not isinstance(error, DiskFullError):
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error
    raise error


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", *, encoding: Optional[str] = None, newline: Optional[str] = None,
                 fsync: bool = False) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...`` writes ``f`` to a temporary file beside ``path`` and
    renames it into place when the block ends without an error; otherwise removes it.

    Args:
        path: the final file; its folder is created.
        mode: "w" (text, UTF-8 unless ``encoding``) or "wb".
        newline: as :func:`open`'s.
        fsync: flush the file to disk before the rename (checkpoints).

    Raises:
        DiskFullError: the disk is full (naming ``path``).
        OSError: any other failure to write, naming ``path``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes files anew: mode 'w' or 'wb', got {mode!r}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        text = dict(encoding=encoding or "utf-8", newline=newline) if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        _raise_for(path, error)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """``with atomic_directory(out) as tmp: <fill the folder tmp>`` renames ``tmp`` to ``out`` at the end.

    When another process created ``out`` first (e.g. a second rank generating the same
    dataset), the rename fails and that folder is kept.

    Raises:
        FileExistsError: ``out`` exists already when the block starts.
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    staged = os.path.join(scratch, "data")
    try:
        yield staged
        try:
            os.replace(staged, path)
        except OSError:
            if not os.path.isdir(path):
                raise
    except BaseException as error:
        _raise_for(path, error)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class PendingFiles:
    """Several outputs of one folder written under temporary names and renamed together.

    ``path(name)`` is where ``name`` is written now; :meth:`commit` renames every one into
    place; :meth:`discard` removes them (and the folder if this created it, empty).

    Args:
        directory: the output folder (created).
        names: the file names.
    """

    def __init__(self, directory: str, names: Sequence[str]):
        self.directory = directory
        self.created = not os.path.isdir(directory)
        os.makedirs(directory, exist_ok=True)
        self.final: Dict[str, str] = {name: os.path.join(directory, name) for name in names}
        self.temp: Dict[str, str] = {name: os.path.join(directory, f".{name}.partial") for name in names}

    def path(self, name: str) -> str:
        return self.temp[name]

    def commit(self) -> None:
        for name, temp in self.temp.items():
            os.replace(temp, self.final[name])

    def discard(self) -> None:
        for temp in self.temp.values():
            if os.path.exists(temp):
                os.remove(temp)
        if self.created and not os.listdir(self.directory):
            os.rmdir(self.directory)
