"""woo.model_zoo: configs by path, trained checkpoints from the local cache only."""
import os

import pytest
import torch

from woo import model_zoo
from woo.runtime.checkpoint import WooCheckpointer

INSTANT = "Synthetic/WOO_Instant.yaml"


def test_config_files_and_configs():
    assert "AVA-v2.2/WOO_SlowFast_R50_8x8.yaml" in model_zoo.list_configs()
    path = model_zoo.get_config_file(INSTANT)
    assert os.path.isfile(path) and path.endswith(os.path.join("configs", "Synthetic", "WOO_Instant.yaml"))
    cfg = model_zoo.get_config("AVA-v2.2/WOO_SlowOnly_R50_4x16.yaml")
    assert cfg.MODEL.VIDEO_RESNET.ARCH == "slow" and cfg.MODEL.WEIGHTS == ""
    with pytest.raises(RuntimeError, match="AVA-v2.2/WOO_X.yaml not available.*WOO_Instant.yaml"):
        model_zoo.get_config_file("AVA-v2.2/WOO_X.yaml")


def test_trained_needs_the_local_checkpoint_and_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WOO_MODEL_ZOO", str(tmp_path))
    expected = os.path.join(str(tmp_path), "Synthetic", "WOO_Instant", "model_final.pth")
    with pytest.raises(RuntimeError) as e:
        model_zoo.get_config(INSTANT, trained=True)
    assert expected in str(e.value) and "woo train --config-file configs/Synthetic/WOO_Instant.yaml" in str(e.value)

    torch.manual_seed(0)
    trained = model_zoo.get(INSTANT, device="cpu")
    os.makedirs(os.path.dirname(expected))
    WooCheckpointer(trained, os.path.dirname(expected)).save("model_final")
    cfg = model_zoo.get_config(INSTANT, trained=True)
    assert cfg.MODEL.WEIGHTS == expected
    torch.manual_seed(1)
    model = model_zoo.get(INSTANT, trained=True, device="cpu")
    assert not model.training
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in trained.state_dict().items())
