"""``woo export``: ONNX (run with onnxruntime) and TorchScript graphs match PyTorch."""
import os

import numpy as np
import pytest
import torch

from woo.cli import main as woo_main
from woo.config import get_cfg
from woo.inference.export import build_exportable, export_model
from woo.modeling import build_model
from woo.runtime.checkpoint import WooCheckpointer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANT = os.path.join(REPO, "configs", "Synthetic", "WOO_Instant.yaml")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Instant-model weights with non-trivial BatchNorm statistics, as a checkpoint file."""
    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    torch.manual_seed(0)
    model = build_model(cfg)
    generator = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    folder = tmp_path_factory.mktemp("weights")
    WooCheckpointer(model, str(folder)).save("model")
    return str(folder / "model.pth")


def _reference(weights, clip):
    """The eager model's boxes, actor scores and action scores for every proposal."""
    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.merge_from_list(["MODEL.WEIGHTS", weights])
    with torch.no_grad():
        return [t.numpy() for t in build_exportable(cfg, "torchscript")(clip)]


def _clip(seed):
    return torch.rand(1, 3, 4, 64, 96, generator=torch.Generator().manual_seed(seed)) * 255


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_graph_matches_pytorch(fmt, weights, tmp_path, capsys):
    path = str(tmp_path / f"woo.{'onnx' if fmt == 'onnx' else 'pt'}")
    rc = woo_main(["export", "--config-file", INSTANT, "--format", fmt, "--output", path,
                   "--input-size", "64", "96", "MODEL.WEIGHTS", weights])
    assert rc == 0 and "Wrote" in capsys.readouterr().out
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert [o.name for o in session.get_outputs()] == ["boxes", "scores", "actions"]

        def run(clip):
            return session.run(None, {"clip": clip.numpy()})
    else:
        graph = torch.jit.load(path)

        def run(clip):
            with torch.no_grad():
                return [t.numpy() for t in graph(clip)]

    # Clips other than the one traced: the graph reads its input, keeps all 4 proposals.
    outputs = {}
    for seed in (3, 4):
        clip = _clip(seed)
        got, ref = run(clip), _reference(weights, clip)
        assert [g.shape for g in got] == [(4, 4), (4,), (4, 6)]
        for g, r in zip(got, ref):
            # 1e-4 absolute on scores; boxes are pixels, where float32 rounding of a
            # differently ordered graph reaches ~2e-6 of the coordinate.
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-4)
        outputs[seed] = got
    assert not np.allclose(outputs[3][2], outputs[4][2])


def test_export_rejects_an_unknown_format():
    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    with pytest.raises(ValueError, match="--format"):
        build_exportable(cfg, "tflite")
    with pytest.raises(ValueError, match="--format"):
        export_model(torch.nn.Identity(), torch.zeros(1), "tflite", "unused")


def test_default_input_size_is_the_configs_test_size(tmp_path, capsys):
    """Without --input-size the graph takes the clips the config tests on: its dataset's frames
    resized by INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST, not AVA's 256 x 455."""
    from woo.config import load_config
    from woo.inference.export import default_input_size

    sizes = {name: default_input_size(load_config(os.path.join(REPO, "configs", name), []))
             for name in ("Synthetic/WOO_Tiny.yaml", "Synthetic/WOO_Instant.yaml", "Synthetic/WOO_Tiny_JHMDB.yaml",
                          "AVA-v2.2/WOO_SlowFast_R50_8x8.yaml", "UCF101-24/WOO_SlowFast_R50_8x8.yaml")}
    assert list(sizes.values()) == [(120, 160), (64, 85), (120, 160), (256, 455), (256, 341)]
    path = str(tmp_path / "woo.pt")
    assert woo_main(["export", "--config-file", INSTANT, "--format", "torchscript", "--output", path]) == 0
    assert "input 'clip' (1, 3, 4, 64, 85)" in capsys.readouterr().out
    with torch.no_grad():
        boxes, _, _ = torch.jit.load(path)(torch.rand(1, 3, 4, 64, 85) * 255)
    assert boxes.shape == (4, 4)
