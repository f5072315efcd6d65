"""JSON result files: written whole or not at all, with NaN as null; JSON-lines logs."""
import json
import math
import os
from typing import Optional

from .atomic import atomic_write

__all__ = ["write_json", "nan_to_null", "JsonLinesWriter"]


def nan_to_null(value: float) -> Optional[float]:
    """``value`` as a float, or None (JSON null) for NaN, which JSON lacks.

    A class without ground truth has AP NaN; ``metrics.json`` and
    ``woo ava-eval --json`` write it as null.
    """
    value = float(value)
    return None if math.isnan(value) else value


def write_json(path: str, obj, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, creating the folder; a NaN or infinite
    float is an error (JSON has none)."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=indent, allow_nan=False)


class JsonLinesWriter:
    """A log of JSON objects, one a line, each written whole and flushed at once.

    Unlike the other outputs it is not written under a temporary name: it is meant
    to be read while it grows (``tail -f``), and a run that stops keeps what it logged.

    Args:
        path: the file (its folder is created; an existing file is started anew).
    """

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._file = open(path, "w", encoding="utf-8")

    def write(self, obj) -> None:
        """Append ``obj`` as one line; a NaN or infinite float is an error (JSON has none)."""
        self._file.write(json.dumps(obj, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
