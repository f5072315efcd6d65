"""Ctrl-C held back while a few steps that belong together finish (an optimizer update,
checkpoint files, a set of outputs renamed into place), or only recorded, for processes
that must agree on where to stop."""
import contextlib
import signal
import threading
from typing import Callable, Iterator

__all__ = ["sigint_deferred", "sigint_recorded"]


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


@contextlib.contextmanager
def sigint_recorded() -> Iterator[Callable[[], bool]]:
    """Only record Ctrl-C (SIGINT) during the block; yield ``received()``, True once one came.

    For processes that must stop at the same point, such as the ranks of a distributed
    training: each asks ``received()`` where it may stop, and they agree through a
    collective. A second Ctrl-C raises :class:`KeyboardInterrupt` at once (a process that
    no longer reaches such a point). A :func:`sigint_deferred` block inside hands its
    Ctrl-C over to this one when it ends.

    Outside the main thread, where Python cannot set signal handlers, ``received()`` stays False.
    """
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def record(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(frame)

    previous = signal.signal(signal.SIGINT, record)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)
