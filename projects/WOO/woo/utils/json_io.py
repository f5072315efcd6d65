"""JSON result files: written whole or not at all, with NaN as null."""
import json
import math
import os
from typing import Optional

__all__ = ["write_json", "nan_to_null"]


def nan_to_null(value: float) -> Optional[float]:
    """``value`` as a float, or None (JSON null) for NaN, which JSON lacks.

    A class without ground truth has AP NaN; ``metrics.json`` and
    ``woo ava-eval --json`` write it as null.
    """
    value = float(value)
    return None if math.isnan(value) else value


def write_json(path: str, obj, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace``,
    creating the folder; a NaN or infinite float is an error (JSON has none).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
