"""Ctrl-C held back by ``sigint_deferred``: once to the block's end, a second time at once when asked."""
import os
import signal

import pytest

from woo.runtime.interrupt import sigint_deferred


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_waits_for_the_block_to_end():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_deferred():
            _ctrl_c()
            steps.append("after the first")
            _ctrl_c()
            steps.append("after the second")
    assert steps == ["after the first", "after the second"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_stops_the_block_when_asked():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_deferred(second_interrupts=True):
            _ctrl_c()
            steps.append("after the first")
            _ctrl_c()
            steps.append("after the second")
    assert steps == ["after the first"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_ctrl_c_no_interrupt():
    with sigint_deferred(second_interrupts=True):
        done = True
    assert done and signal.getsignal(signal.SIGINT) is signal.default_int_handler
