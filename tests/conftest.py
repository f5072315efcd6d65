"""Fixtures shared by the test modules."""
import os

import pytest

from woo.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """A $WOO_DATASETS folder for the whole session; the synthetic set is generated there on first use."""
    return str(tmp_path_factory.mktemp("datasets"))


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
    frames_dir = os.path.join(datasets_root, "woo_synthetic", "frames", "val000")
    return {"weights": str(out / "model_final.pth"), "frames_dir": frames_dir,
            "annotations": os.path.join(datasets_root, "woo_synthetic", "annotations",
                                        "woo_synthetic_val_v1.0.csv"),
            "label_map": os.path.join(datasets_root, "woo_synthetic", "annotations",
                                      "woo_synthetic_action_list_v1.0.pbtxt")}
