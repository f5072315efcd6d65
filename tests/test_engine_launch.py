"""``woo.engine.launch`` after Ctrl-C: a process that does not stop in time is terminated and named."""
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


def main(ready_dir: str) -> int:
    """What the test runs in its own process group: the launcher, as ``woo train`` calls it."""
    import logging

    from woo.engine.launch import launch
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        launch(_rank_1_ignores_ctrl_c, (ready_dir,), num_gpus=2, stop_timeout=3.0)
    except KeyboardInterrupt as e:
        print(f"KeyboardInterrupt: {e.args[0] if e.args else ''}", file=sys.stderr)
        return 130
    return 0


def test_a_rank_still_running_after_ctrl_c_is_terminated_and_named(tmp_path, interruptible):
    script = f"import sys; sys.path.insert(0, {TESTS!r}); import test_engine_launch as t; sys.exit(t.main({str(tmp_path)!r}))"
    proc = interruptible([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"rank{r}").exists() for r in (0, 1)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the two processes did not start"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # the 3 s bound, not rank 1's endless wait
    err = err.decode()
    assert proc.returncode == 130, err
    assert "rank 1 did not stop within 3 s of Ctrl-C: terminating it" in err
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt: rank 0 stopped"
