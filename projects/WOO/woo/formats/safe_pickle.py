"""Reading pickles that may hold only numpy arrays and plain containers.

Datasets and checkpoints of the Caffe2 era (ACT ground truth, PySlowFast's Caffe2
``.pkl`` weights) are Python 2 pickles. A pickle can name any importable function
and call it while it loads, so these files are read with an unpickler that admits
only the globals numpy arrays and ``OrderedDict`` are rebuilt from; dicts, lists,
tuples, strings and numbers need no global. Anything else is refused when the
pickle names it, before it can be called.
"""
import pickle
from typing import Any

__all__ = ["ALLOWED_GLOBALS", "load_array_pickle"]

# (module, name) pairs a pickle may reference: numpy array and scalar reconstruction only.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    # Protocol-2 pickles written by Python 3 store bytes (array data) through codecs.encode.
    ("_codecs", "encode"),
})


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed: the file may hold only numpy arrays and plain containers"
            )
        return super().find_class(module, name)


def load_array_pickle(path: str, what: str) -> Any:
    """Unpickle ``path`` (Python 2 pickles too: strings decode as latin1) admitting only
    numpy arrays, numpy scalars, dicts, lists, tuples, strings and numbers.

    Args:
        path: the file.
        what: what the file should be, for the errors (e.g. "ground-truth pickle").

    Raises:
        FileNotFoundError: "<what> not found: <path>".
        ValueError: one line, "<path>: not a readable <what> (...)", naming a refused
            global; nothing the pickle names beyond the allowed ones is ever called.
    """
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable {what} ({e})") from None
