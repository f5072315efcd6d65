"""Numbers as JSON can hold them."""
import math
from typing import Optional

__all__ = ["nan_to_null"]


def nan_to_null(value: float) -> Optional[float]:
    """``value`` as a float, or None (JSON null) for NaN, which JSON lacks.

    A class without ground truth has AP NaN; ``metrics.json`` and
    ``woo ava-eval --json`` write it as null.
    """
    value = float(value)
    return None if math.isnan(value) else value
