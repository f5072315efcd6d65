"""The model's Python API says what it takes when given something else."""
import os
import warnings

import pytest
import torch

from woo.config import get_cfg
from woo.modeling import build_model
from woo.modeling.inputs import check_batched_inputs

INSTANT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "Synthetic",
                       "WOO_Instant.yaml")


@pytest.fixture(scope="module")
def model():
    cfg = get_cfg()
    cfg.merge_from_file(INSTANT)
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    return build_model(cfg).eval()


def _clip(model, h=48, w=64, scale=255.0):
    torch.manual_seed(1)
    return torch.rand(3, model.num_frames, h, w) * scale


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda m: _clip(m), TypeError, "got a Tensor"),
        (lambda m: [], ValueError, "got an empty list"),
        (lambda m: {"clip": _clip(m)}, TypeError, "got a dict"),
        (lambda m: [_clip(m)], TypeError, "input 0: WOO takes a list of dicts"),
        (lambda m: [{"image": _clip(m)}], ValueError, "input 0 has no 'clip'"),
        (lambda m: [{"clip": _clip(m, 0, 0)}], ValueError, "H, W >= 1, got (3, 4, 0, 0)"),
        (lambda m: [{"clip": _clip(m)[:, :1]}], ValueError, "T=4 (INPUT.NUM_FRAMES)"),
    ],
)
def test_wrong_inputs_say_what_the_model_takes(model, make, error, words):
    with pytest.raises(error) as info:
        with torch.no_grad():
            model(make(model))
    assert words in str(info.value)
    assert "'clip': (3, T, H, W) RGB tensor with values 0..255" in str(info.value) or "T=4" in str(info.value)


def test_non_finite_pixel_is_an_error(model):
    clip = _clip(model)
    clip[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="input 1: 'clip' has NaN or infinite values"):
        with torch.no_grad():
            model([{"clip": _clip(model)}, {"clip": clip}])


def test_clip_scaled_to_one_warns_and_0_255_does_not(model):
    with pytest.warns(UserWarning, match=r"expects 0\.\.255 RGB"):
        with torch.no_grad():
            model([{"clip": _clip(model, scale=1.0)}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            outputs = model([{"clip": _clip(model)}, {"clip": _clip(model).to(torch.uint8)}])
    assert len(outputs) == 2


def test_the_check_alone_accepts_a_valid_batch_without_warning():
    clip = torch.rand(3, 2, 4, 5, generator=torch.Generator().manual_seed(0)) * 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would fail the test
        check_batched_inputs([{"clip": clip, "image_size": (4, 5)},
                              {"clip": clip.to(torch.uint8), "image_size": (3, 5)}], num_frames=2)
