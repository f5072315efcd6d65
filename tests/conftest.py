"""Fixtures shared by the test modules."""
import os
import signal
import subprocess

import pytest

from woo.cli import main
from woo.data import synthetic, synthetic_jhmdb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """A $WOO_DATASETS folder for the whole session, with both synthetic sets in their default
    layouts but fewer videos (24 / 8 and 36 / 18), so that generating and evaluating them stays
    quick; the tests' counts are these sets'. The catalog uses them and logs that they differ."""
    root = str(tmp_path_factory.mktemp("datasets"))
    synthetic.generate(os.path.join(root, "woo_synthetic"), synthetic.SyntheticConfig(train_videos=24, val_videos=8))
    synthetic_jhmdb.generate_jhmdb(os.path.join(root, "woo_synthetic_jhmdb"),
                                   synthetic_jhmdb.JHMDBSyntheticConfig(train_videos=36, test_videos=18))
    return root


@pytest.fixture
def interruptible():
    """``interruptible(command, **popen)``: ``subprocess.Popen`` in a new process group that
    takes Ctrl-C (SIGINT) as a terminal's foreground job does, even when the tests themselves
    run where SIGINT is ignored (a shell's background job, ``nohup``), which children inherit.
    Every process group started is killed at the end of the test, so a failed test leaves
    no training running."""
    started = []

    def start(command, **popen):
        proc = subprocess.Popen(command, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def woo_datasets(datasets_root, monkeypatch):
    """Point $WOO_DATASETS at the session's folder for one test."""
    monkeypatch.setenv("WOO_DATASETS", datasets_root)
    return datasets_root


@pytest.fixture(scope="session")
def trained(datasets_root, tmp_path_factory):
    """A WOO_Instant checkpoint (4 iterations, trained once a session) and the frames of synthetic val000."""
    out = tmp_path_factory.mktemp("instant")
    config = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WOO_DATASETS", datasets_root)
        assert main(["train", "--config-file", config, "OUTPUT_DIR", str(out), "DATASETS.TEST", "()"]) == 0
    files = synthetic.split_files(os.path.join(datasets_root, "woo_synthetic"), "val")
    return {"weights": str(out / "model_final.pth"), "frames_dir": os.path.join(files["frames_dir"], "val000"),
            "annotations": files["annotations"], "label_map": files["label_map"]}
