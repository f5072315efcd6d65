"""Every command, run as a user runs it (a subprocess), turns bad input into one line on stderr
and its exit code, and Ctrl-C into one line and exit code 130; thread settings."""
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
import torch

from woo.cli import prefer_passive_wait
from woo.runtime import threads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
GOLDEN = os.path.join(REPO, "tests", "data", "ava_golden", "case0")


def env(**extra):
    return {**os.environ, "PYTHONPATH": os.path.join(REPO, "projects", "WOO"), "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1", **extra}


def woo(*words, **extra):
    return subprocess.run([sys.executable, "-m", "woo.cli", *words], env=env(**extra), capture_output=True,
                          text=True, cwd=REPO, timeout=600)


def one_line(done, code):
    """The one stderr line of a command that failed with ``code``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture
def nan_detections(tmp_path):
    rows = open(os.path.join(GOLDEN, "detections.csv")).read().splitlines()
    rows[1] = rows[1].rsplit(",", 1)[0] + ",nan"  # line 2: a box of "crouch" (id 2), in the label map
    path = tmp_path / "det.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_ava_eval_nan_score(nan_detections):
    done = woo("ava-eval", "--labelmap", os.path.join(GOLDEN, "labelmap.pbtxt"),
               "--groundtruth", os.path.join(GOLDEN, "groundtruth.csv"), "--detections", nan_detections)
    assert one_line(done, 1) == f"woo ava-eval: error: {nan_detections}:2: score 'nan' is not a finite number"


def test_ava_eval_warns_when_scores_look_like_person_ids(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("v,0902,0.1,0.1,0.5,0.5,2,0\nv,0902,0.5,0.5,0.9,0.9,2,1\n")
    det = tmp_path / "det.csv"
    det.write_text("v,0902,0.1,0.1,0.5,0.5,2,0.9\nv,0902,0.5,0.5,0.9,0.9,2,0.8\n")
    labelmap = os.path.join(GOLDEN, "labelmap.pbtxt")
    swapped = woo("ava-eval", "--labelmap", labelmap, "--groundtruth", str(det), "--detections", str(gt))
    assert swapped.returncode == 0
    assert f"{gt}: every score is a whole number (0, 1)" in swapped.stderr and "swapped?" in swapped.stderr
    right = woo("ava-eval", "--labelmap", labelmap, "--groundtruth", str(gt), "--detections", str(det))
    assert right.returncode == 0 and "whole number" not in right.stderr


@pytest.mark.parametrize("words,code,expected", [
    (["demo", "--config-file", INSTANT, "--input", "{tmp}/v.mp4", "--output", "{tmp}/file"], 1,
     "woo demo: error: --output {tmp}/file is a file; name a folder (created if missing)"),
    (["train", "--config-file", "{tmp}/missing.yaml"], 1, "woo train: error: config file not found: {tmp}/missing.yaml"),
    (["check-data", "--config-file", INSTANT, "SOLVER.NO_SUCH_KEY", "1"], 1, "woo check-data: error: "),
    (["flops", "--config-file", INSTANT, "--threads", "-1"], 2,
     "woo flops: error: argument --threads: expected a whole number >= 0 (0: PyTorch's defaults), got '-1'"),
    (["tube-eval", "--groundtruth", "{tmp}/gt.pkl", "--detections", "{tmp}/det.csv"], 1,
     "woo tube-eval: error: ground-truth pickle not found: {tmp}/gt.pkl"),
    (["compare", "{tmp}/run_a", "{tmp}/run_b"], 1, "woo compare: error: "),
])
def test_bad_input_is_one_line(tmp_path, words, code, expected):
    (tmp_path / "file").write_text("not a folder")
    done = woo(*[w.format(tmp=tmp_path) for w in words])
    line = one_line(done, code) if code == 1 else done.stderr.strip().splitlines()[-1]
    assert done.returncode == code and "Traceback" not in done.stderr
    assert line.startswith(expected.format(tmp=tmp_path)), line


def _wait_for(stream, pattern, timeout=300.0):
    """Read ``stream`` (bytes) until ``pattern`` appears; return what was read."""
    seen, deadline = b"", time.monotonic() + timeout
    while re.search(pattern, seen) is None:
        assert time.monotonic() < deadline, seen[-2000:]
        ready, _, _ = select.select([stream], [], [], 1.0)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"the command ended before {pattern!r}: {seen[-2000:]!r}"
            seen += chunk
    return seen


def _ctrl_c(proc, reading):
    """Ctrl-C as a terminal sends it (to the whole process group, DataLoader workers included);
    returns (exit code, the rest of stdout, stderr)."""
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, reading + out, err


def _spawned_ranks(pid):
    """PIDs of the training processes ``woo train --num-gpus N`` (process ``pid``) spawned, in
    the order they started (rank 0 first), read from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):  # not a process, or one that just ended
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in cmdline:
            children.append((int(stat.rsplit(")", 1)[1].split()[19]), int(entry)))  # start time, pid
    return [child for _, child in sorted(children)]


@pytest.mark.parametrize("processes, sent_to", [(1, "all"), (2, "all"), (2, "rank 1")])
def test_ctrl_c_during_train_saves_a_checkpoint_that_resume_continues(tmp_path, woo_datasets, interruptible,
                                                                      processes, sent_to):
    """Also with two processes (``--num-gpus 2``, gloo on the CPU), where every process gets the
    Ctrl-C and the command still reports rank 0's checkpoint once; and where it reaches rank 1
    only (a SIGINT to one process), which rank 0 learns of after that iteration."""
    out = tmp_path / "run"
    common = ["train", "--config-file", INSTANT, "DATASETS.TEST", "()", "SOLVER.LOG_PERIOD", "1",
              "SOLVER.CHECKPOINT_PERIOD", "0", "DATALOADER.NUM_WORKERS", "1", "OUTPUT_DIR", str(out)]
    if processes > 1:
        common += ["--num-gpus", str(processes), "SOLVER.IMS_PER_BATCH", "4"]
    proc = interruptible([sys.executable, "-m", "woo.cli", *common, "SOLVER.MAX_ITER", "100000"], env=env(),
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = _wait_for(proc.stdout, rb"iter 1/100000 ")
    if sent_to == "all":
        code, stdout, stderr = _ctrl_c(proc, seen)
    else:
        ranks = _spawned_ranks(proc.pid)
        assert len(ranks) == 2, ranks
        os.kill(ranks[1], signal.SIGINT)
        out_rest, stderr = proc.communicate(timeout=300)
        code, stdout = proc.returncode, seen + out_rest
    stderr = stderr.decode()
    assert code == 130 and "Traceback" not in stderr, stderr
    last = stderr.replace("\r", "\n").strip().splitlines()[-1]
    match = re.fullmatch(r"woo train: interrupted at iteration (\d+); `--resume` continues from (model_(\d{7})\.pth)",
                         last)
    assert match, stderr
    assert sum("interrupted" in line for line in stderr.splitlines()) == 1
    done, name = int(match.group(1)), match.group(2)
    assert done >= 1 and int(match.group(3)) == done - 1
    assert (out / name).is_file() and (out / "last_checkpoint").read_text() == name
    assert not (out / "model_final.pth").exists() and not (out / "metrics.json").exists()
    assert not [n for n in os.listdir(out) if "tmp" in n or n.startswith(".")], os.listdir(out)
    saved = torch.load(out / name, map_location="cpu", weights_only=True)
    assert saved["iteration"] == done - 1 and "optimizer" in saved and "rng" in saved

    resumed = woo(*common, "SOLVER.MAX_ITER", str(done + 2), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resumed from {out / name} after {done} iterations" in resumed.stdout
    assert f"Training iterations {done + 1}..{done + 2}" in resumed.stdout
    assert (out / "model_final.pth").is_file()

    again = woo(*common, "SOLVER.MAX_ITER", str(done + 2), "--resume")
    assert again.returncode == 0 and "Training finished already" in again.stdout
    assert "Training iterations" not in again.stdout


def test_ctrl_c_during_demo_leaves_no_output(trained, tmp_path, interruptible):
    out = tmp_path / "demo"
    proc = interruptible([sys.executable, "-m", "woo.cli", "demo", "--config-file", INSTANT, "--input",
                          trained["frames_dir"], "--output", str(out), "--key-stride", "0", "--batch-size", "1",
                          "MODEL.WEIGHTS", trained["weights"]], env=env(), cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    _wait_for(proc.stderr, rb"demo val000: +\d+%\|[^\r]*\| *[1-9]")  # tqdm: the first frames are through
    code, stdout, stderr = _ctrl_c(proc, b"")
    stderr = stderr.decode()
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.replace("\r", "\n").strip().splitlines()[-1] == (
        f"woo demo: interrupted; nothing written to {out} (the partial files were removed)")
    assert not out.exists() and stdout == b""


def test_thread_choice(monkeypatch):
    assert threads.choose_intra_op_threads(cores=2, data_workers=1) == 2
    assert threads.choose_intra_op_threads(cores=16, data_workers=4, processes=2) == 8
    assert threads.choose_intra_op_threads(cores=3, processes=4) == 1
    # Cores other processes keep busy are left to them, rounded to whole cores; one thread at least.
    assert threads.choose_intra_op_threads(cores=2, data_workers=1, busy=0.4) == 2
    assert threads.choose_intra_op_threads(cores=2, data_workers=1, busy=1.2) == 1
    assert threads.choose_intra_op_threads(cores=2, busy=5.0) == 1
    assert threads.choose_intra_op_threads(cores=16, processes=2, busy=3.0) == 6
    before = torch.get_num_threads()
    try:
        text = threads.configure_threads(1, data_workers=2, log=False)
        assert torch.get_num_threads() == 1
        assert text.startswith("threads: 1 intra-op (--threads; ") and "2 data workers of 1 thread" in text
        assert "OMP_WAIT_POLICY=" in text and "kept busy" not in text
        with pytest.raises(ValueError, match="--threads must be >= 0"):
            threads.configure_threads(-1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's setting counts
        assert threads.configure_threads(log=False).startswith("threads: 1 intra-op (OMP_NUM_THREADS; ")
        monkeypatch.delenv("OMP_NUM_THREADS")
        cores = threads.available_cores()
        for busy in (0, 1):  # the load as the command measured it when it started
            monkeypatch.setenv(threads.BUSY_CORES_ENV, str(busy))
            chosen = max(1, cores - busy)
            text = threads.configure_threads(data_workers=1, log=False)
            assert text.startswith(f"threads: {chosen} intra-op (chosen; {cores} core"), text
            assert f", {busy:.1f} kept busy by other processes" in text
            assert torch.get_num_threads() == chosen
    finally:
        torch.set_num_threads(before)


def test_busy_cores_elsewhere_counts_a_spinning_process():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = threads.busy_cores_elsewhere(samples=20)
    finally:
        spinner.kill()
        spinner.wait()
    # The spinner is always running or ready to run; it is counted as a share of the machine's CPUs.
    assert busy >= 0.9 * threads.available_cores() / os.cpu_count(), busy


def test_the_command_measures_the_load_once_for_its_processes(tmp_path, woo_datasets):
    """`woo train` measures the load before it computes and leaves the cores other processes keep
    busy to them; its processes take the measurement from ``WOO_BUSY_CORES``, which it sets."""
    out = tmp_path / "run"
    extra = {k: v for k, v in env().items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-m", "woo.cli", "train", "--config-file", INSTANT, "DATASETS.TEST", "()",
                           "SOLVER.MAX_ITER", "1", "OUTPUT_DIR", str(out)], env={**extra, threads.BUSY_CORES_ENV: "1"},
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    cores = threads.available_cores()
    assert (f"threads: {max(1, cores - 1)} intra-op (chosen; {cores} core{'s' if cores != 1 else ''}, "
            "1.0 kept busy by other processes") in (out / "log.txt").read_text()
    # Measured by the command itself: a process spinning beside it keeps (about) a core busy.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        done = subprocess.run([sys.executable, "-m", "woo.cli", "train", "--config-file", INSTANT, "DATASETS.TEST",
                               "()", "SOLVER.MAX_ITER", "1", "OUTPUT_DIR", str(tmp_path / "busy")], env=extra,
                              capture_output=True, text=True, cwd=REPO, timeout=600)
    finally:
        spinner.kill()
        spinner.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    line = re.search(r"threads: (\d+) intra-op \(chosen; .*, ([\d.]+) kept busy by other processes",
                     (tmp_path / "busy" / "log.txt").read_text())
    assert line, (tmp_path / "busy" / "log.txt").read_text()[-2000:]
    assert float(line.group(2)) >= 0.9 * cores / os.cpu_count()
    assert int(line.group(1)) == threads.choose_intra_op_threads(cores, busy=float(line.group(2)))


def test_passive_wait_policy_is_set_before_torch_loads(monkeypatch):
    # woo.cli imports nothing that loads torch, so that the policy set in main() takes effect.
    code = "import sys, woo.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True).stdout == "False\n"
    monkeypatch.delitem(sys.modules, "torch")  # as before torch loads (restored after the test)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    prefer_passive_wait(["--threads", "0"])  # PyTorch's defaults asked for
    assert "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
    prefer_passive_wait(["--config-file", "x.yaml"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")  # the user's spin count stays
    prefer_passive_wait([])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["GOMP_SPINCOUNT"] == "0"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's setting stays
    prefer_passive_wait([])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys):
    """Loading torch and a command takes seconds; Ctrl-C then is one line and exit code 130."""
    import importlib

    from woo import cli

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", interrupted)
    assert cli.main(["prepare", "--videos", "v", "--annotations", "a.csv", "--labels", "l", "--out", "o"]) == 130
    assert capsys.readouterr().err == "woo prepare: interrupted\n"
