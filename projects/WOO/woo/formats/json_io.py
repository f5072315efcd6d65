"""JSON result files: written whole or not at all, with NaN as null."""
import json
import math
from typing import Optional

from .atomic import atomic_write

__all__ = ["write_json", "nan_to_null"]


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
