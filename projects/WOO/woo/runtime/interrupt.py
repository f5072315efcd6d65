"""Ctrl-C held back while a few steps that belong together finish (an optimizer update,
checkpoint files, a set of outputs renamed into place)."""
import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["sigint_deferred"]


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Run the block to its end even if Ctrl-C (SIGINT) arrives; then act on it as before the
    block would have (by default: raise :class:`KeyboardInterrupt`).

    Outside the main thread, where Python cannot set signal handlers, the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, received[0])
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
