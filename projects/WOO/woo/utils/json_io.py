"""Writing JSON result files whole or not at all."""
import json
import os

__all__ = ["write_json"]


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` through a temporary file and ``os.replace``."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)
