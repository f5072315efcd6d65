"""Ctrl-C held back by ``sigint_deferred`` (once to the block's end, a second time at once when
asked) and only recorded by ``sigint_recorded`` (a second one raises at once)."""
import os
import signal

import pytest

from woo.runtime.interrupt import sigint_deferred, sigint_recorded


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


def test_recorded_ctrl_c_lets_the_block_go_on_and_a_second_one_stops_it():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_recorded() as received:
            assert not received()
            _ctrl_c()
            steps.append(received())
            with sigint_deferred():  # an inner block hands a Ctrl-C over: the second one
                _ctrl_c()
                steps.append("inside")
            steps.append("after the inner block")
    assert steps == [True, "inside"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_in_an_inner_block_is_recorded_when_it_ends():
    with sigint_recorded() as received:
        with sigint_deferred():
            _ctrl_c()
            assert not received()
        assert received()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
