"""Scoring a live stream's key frames without falling behind it.

The model runs in a worker thread while frames keep arriving. Each time the
model is free it takes the newest key frame whose clip is complete; older
complete ones still waiting are skipped (and reported), since scoring them
would only add to the delay of every later key frame. A model faster than the
key frames arrive skips none; a slower one scores about one key frame per
forward pass, never more than one pass behind.
"""
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional

from .clip_sampler import KeyClip

__all__ = ["SkippedKeyFrame", "LatestClipScheduler"]


@dataclass
class SkippedKeyFrame:
    """A key frame of a live input that was not scored: a newer one was ready when the model
    became free (or the run stopped first).

    Attributes:
        time: key frame time in seconds.
        frame_index: index of the decoded frame nearest ``time``.
    """

    time: float
    frame_index: int


class LatestClipScheduler:
    """Run ``predict`` on submitted clips in a worker thread, newest first, skipping older ones.

    Args:
        predict: scores a list of one :class:`KeyClip`; returns one result per clip.
    """

    def __init__(self, predict: Callable[[List[KeyClip]], list]):
        self._predict = predict
        self._cond = threading.Condition()
        self._pending: List[KeyClip] = []
        self._done: list = []  # results and SkippedKeyFrame, in time order
        self._closed = self._cancelled = False
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="woo-live-model", daemon=True)
        self._thread.start()

    def submit(self, clips: List[KeyClip]) -> None:
        """Queue complete clips (in time order) for the model."""
        if clips:
            with self._cond:
                self._pending.extend(clips)
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed and not self._cancelled:
                    self._cond.wait()
                if self._cancelled or not self._pending:
                    return
                *older, newest = self._pending
                self._pending = []
                self._done.extend(SkippedKeyFrame(c.time, c.frame_index) for c in older)
            try:
                result = self._predict([newest])[0]
            except BaseException as e:  # raised in the consumer by take()
                with self._cond:
                    self._error = e
                return
            with self._cond:
                self._done.append(result)

    def take(self) -> list:
        """The results and skipped key frames since the last call, in time order.

        Raises:
            the error ``predict`` raised in the worker.
        """
        with self._cond:
            if self._error is not None:
                raise self._error
            done, self._done = self._done, []
        return done

    def close(self) -> None:
        """No more clips: the pending ones are taken by the same rule; waits for the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def cancel(self) -> None:
        """Stop now: pending clips are skipped; waits for the forward pass in progress."""
        with self._cond:
            self._cancelled = True
            self._done.extend(SkippedKeyFrame(c.time, c.frame_index) for c in self._pending)
            self._pending = []
            self._cond.notify_all()
        self._thread.join()
