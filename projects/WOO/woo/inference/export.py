"""A WOO model as an ONNX or TorchScript graph (``woo export``).

The graph takes one clip ``(1, 3, T, H, W)``, 0..255 float in ``INPUT.FORMAT``'s
channel order (RGB in the shipped configs), at the size it was exported for, and returns ``boxes`` (P, 4) in pixels, ``scores`` (P,) actor
scores and ``actions`` (P, C) action scores for all P proposals, best actor
first; thresholding is left to the caller. Shapes are static (see the README);
the graph is fp32 with BatchNorm folded into the convolutions.
"""
import warnings
from typing import Tuple

import torch
from torch import nn

from woo.data.synthetic import SyntheticConfig
from woo.data.synthetic_jhmdb import JHMDBSyntheticConfig
from woo.data.transforms import resized_shape
from woo.modeling import build_model
from woo.modeling.traceable import ClipToTensors
from woo.runtime.checkpoint import WooCheckpointer
from woo.runtime.inference_modes import optimize_for_inference

__all__ = ["FORMATS", "ONNX_OPSET", "ExportableWOO", "build_exportable", "default_input_size", "export_model"]

FORMATS = ("onnx", "torchscript")
# RoIAlign with aligned=True needs opset 16; 17 adds LayerNormalization.
ONNX_OPSET = 17
INPUT_NAMES = ["clip"]
OUTPUT_NAMES = ["boxes", "scores", "actions"]


def _frame_size(dataset: str) -> Tuple[int, int]:
    """(H, W) of a dataset's frames, without reading them: the synthetic sets' generator size,
    JHMDB-21's and UCF101-24's 240 x 320, and otherwise AVA's usual 16:9 (360 x 640)."""
    for prefix, config in (("woo_synthetic_jhmdb", JHMDBSyntheticConfig), ("woo_synthetic", SyntheticConfig)):
        if dataset.startswith(prefix):
            return config().height, config().width
    if dataset.startswith(("jhmdb", "ucf")):
        return 240, 320
    return 360, 640


def default_input_size(cfg) -> Tuple[int, int]:
    """(H, W) the model of ``cfg`` sees its dataset's frames at: the frames of its first test
    (else training) dataset resized by ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST`` (WOO_Tiny:
    120 x 160; AVA: 256 x 455)."""
    datasets = tuple(cfg.DATASETS.TEST) or tuple(cfg.DATASETS.TRAIN)
    height, width = _frame_size(datasets[0] if datasets else "")
    return resized_shape(height, width, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)


class ExportableWOO(nn.Module):
    """A WOO model as a function of one clip tensor: (1, 3, T, H, W) -> (boxes, scores, actions)."""

    def __init__(self, model: nn.Module):
        """
        Args:
            model: a prepared WOO model in eval mode that keeps all proposals
                (see :func:`build_exportable`).
        """
        super().__init__()
        self.model = ClipToTensors(model)

    def forward(self, clip: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model(clip[0])


def build_exportable(cfg, fmt: str) -> ExportableWOO:
    """Build the model of ``cfg`` (weights from ``MODEL.WEIGHTS`` if set) keeping every
    proposal, fp32, prepared by :func:`optimize_for_inference` for format ``fmt``
    (BN folded; channels-last for TorchScript only: ONNX has no memory formats)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.INFERENCE.PRECISION = "fp32"
    cfg.MODEL.INFERENCE.COMPILE = False
    # ONNX has no channels-last; TorchScript keeps it when asked for ("on": fp32 here, so "auto" is off).
    if fmt != "torchscript":
        cfg.MODEL.INFERENCE.CHANNELS_LAST = "off"
    # Every proposal leaves the graph; the caller thresholds.
    cfg.MODEL.WOO.MIN_DETECTIONS_PER_CLIP = cfg.MODEL.WOO.NUM_PROPOSALS
    cfg.TEST.DETECTIONS_PER_IMAGE = cfg.MODEL.WOO.NUM_PROPOSALS
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = ""
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        WooCheckpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return ExportableWOO(optimize_for_inference(model, cfg, inplace=True)).eval()


def export_model(module: nn.Module, clip: torch.Tensor, fmt: str, path: str) -> None:
    """Write ``module`` traced on ``clip`` (1, 3, T, H, W) to ``path`` as ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    # nn.MultiheadAttention's fused fast path has no ONNX form; the plain path computes the same.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Shapes are static by design (see the module docstring): the tracer's
            # warnings about Python values baked into the graph are expected.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            if fmt == "torchscript":
                torch.jit.save(torch.jit.trace(module, (clip,), check_trace=False), path)
            else:
                torch.onnx.export(module, (clip,), path, dynamo=False, opset_version=ONNX_OPSET,
                                  input_names=INPUT_NAMES, output_names=OUTPUT_NAMES)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
