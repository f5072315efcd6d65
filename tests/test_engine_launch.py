"""``woo.engine.launch`` after Ctrl-C: a process that does not stop in time is terminated and named;
a second Ctrl-C does not cut the wait for rank 0's message short."""
import os
import signal
import subprocess
import sys
import time

from woo.runtime import comm

TESTS = os.path.dirname(os.path.abspath(__file__))


def _rank_1_ignores_ctrl_c(ready_dir: str) -> None:
    """Rank 0 stops on Ctrl-C with a message; rank 1 ignores it and would wait forever."""
    if comm.get_rank() == 1:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    open(os.path.join(ready_dir, f"rank{comm.get_rank()}"), "w").close()
    try:
        while True:
            time.sleep(0.1)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("rank 0 stopped") from None


def _rank_0_stops_at_the_second_ctrl_c(ready_dir: str) -> None:
    """Rank 1 stops at the first Ctrl-C; rank 0 (saving, say) only at the second one."""
    rank = comm.get_rank()
    ctrl_c = []
    if rank == 0:
        signal.signal(signal.SIGINT, lambda signum, frame: ctrl_c.append(signum))
    open(os.path.join(ready_dir, f"rank{rank}"), "w").close()
    while len(ctrl_c) < 2:
        time.sleep(0.05)
    raise KeyboardInterrupt("rank 0 stopped at the second Ctrl-C")


def main(ready_dir: str, case: str) -> int:
    """What the test runs in its own process group: the launcher, as ``woo train`` calls it."""
    import logging

    from woo.engine.launch import launch
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        launch(globals()[case], (ready_dir,), num_gpus=2, stop_timeout=3.0 if case == "_rank_1_ignores_ctrl_c" else 60.0)
    except KeyboardInterrupt as e:
        print(f"KeyboardInterrupt: {e.args[0] if e.args else ''}", file=sys.stderr)
        return 130
    return 0


def _start_two_ranks(tmp_path, interruptible, case):
    script = (f"import sys; sys.path.insert(0, {TESTS!r}); import test_engine_launch as t; "
              f"sys.exit(t.main({str(tmp_path)!r}, {case!r}))")
    proc = interruptible([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"rank{r}").exists() for r in (0, 1)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the two processes did not start"
        time.sleep(0.2)
    return proc


def test_a_rank_still_running_after_ctrl_c_is_terminated_and_named(tmp_path, interruptible):
    proc = _start_two_ranks(tmp_path, interruptible, "_rank_1_ignores_ctrl_c")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # the 3 s bound, not rank 1's endless wait
    err = err.decode()
    assert proc.returncode == 130, err
    assert "rank 1 did not stop within 3 s of Ctrl-C: terminating it" in err
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt: rank 0 stopped"


def test_a_second_ctrl_c_still_reports_rank_0s_message(tmp_path, interruptible):
    proc = _start_two_ranks(tmp_path, interruptible, "_rank_0_stops_at_the_second_ctrl_c")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1.0)  # the launcher is waiting for rank 0 now
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt: rank 0 stopped at the second Ctrl-C"
    assert "did not stop" not in err
