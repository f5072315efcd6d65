"""Ctrl-C held back while a few steps that belong together finish (an optimizer update,
checkpoint files, a set of outputs renamed into place)."""
import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["sigint_deferred"]


@contextlib.contextmanager
def sigint_deferred(*, second_interrupts: bool = False) -> Iterator[None]:
    """Run the block to its end even if Ctrl-C (SIGINT) arrives; then act on it as before the
    block would have (by default: raise :class:`KeyboardInterrupt`).

    Args:
        second_interrupts: a second Ctrl-C raises :class:`KeyboardInterrupt` inside the block
            at once (for a block that may wait long, such as a batch from a stuck worker).

    Outside the main thread, where Python cannot set signal handlers, the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def hold(signum, frame):
        if received and second_interrupts:
            raise KeyboardInterrupt
        received.append(frame)

    previous = signal.signal(signal.SIGINT, hold)
    raised_inside = False
    try:
        yield
    except KeyboardInterrupt:
        raised_inside = True
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and not raised_inside:
            if callable(previous):
                previous(signal.SIGINT, received[0])
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
