"""Initialize the video backbone from a Kinetics checkpoint: a PyTorch ``.pyth`` of
pytorchvideo or PySlowFast, or a Caffe2 ``.pkl`` of PySlowFast's model zoo."""
import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from woo.formats.caffe2_pickle import read_caffe2_blobs
from .caffe2_names import caffe2_to_pyslowfast

__all__ = ["KineticsLoadReport", "load_kinetics_backbone", "pyslowfast_to_pytorchvideo", "MIN_MATCHED"]

logger = logging.getLogger(__name__)

# Least share of the backbone's tensors, and of its elements, a checkpoint must fill:
# below it the file is not a checkpoint of this backbone, and training would start
# mostly from random weights without saying so.
MIN_MATCHED = 0.9

_STEM = re.compile(r"^s1\.pathway(\d)_stem\.(conv|bn)\.(.+)$")
_FUSE = re.compile(r"^s(\d)_fuse\.(conv_f2s|bn)\.(.+)$")
_RES = re.compile(r"^s(\d)\.pathway(\d)_res(\d+)\.(branch1|branch1_bn|branch2\.[abc]|branch2\.[abc]_bn)\.(.+)$")
_BRANCH = {"branch1": "branch1_conv", "branch1_bn": "branch1_norm"}
_BRANCH.update({f"branch2.{c}": f"branch2.conv_{c}" for c in "abc"})
_BRANCH.update({f"branch2.{c}_bn": f"branch2.norm_{c}" for c in "abc"})


def _examples(names: List, count: int = 3) -> str:
    names = [n[0] if isinstance(n, tuple) else n for n in names]
    if not names:
        return ""
    return f" (e.g. {', '.join(names[:count])}{', ...' if len(names) > count else ''})"


@dataclass
class KineticsLoadReport:
    """What loading a Kinetics checkpoint into the backbone did.

    Names are the backbone's where the checkpoint's name maps to one, else the checkpoint's.
    BatchNorm's ``num_batches_tracked`` counters count nowhere but in ``matched``.
    """

    path: str
    format: str  # "pytorchvideo", "pyslowfast" or "caffe2"
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)  # e.g. the classification head
    shape_mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    reshaped: List[str] = field(default_factory=list)  # matched after adding / dropping unit dims (Caffe2)
    skipped: List[str] = field(default_factory=list)  # optimizer state and counters (Caffe2)
    tensor_fraction: float = 0.0  # of the backbone's tensors, loaded
    element_fraction: float = 0.0  # of the backbone's elements, loaded

    def summary(self) -> str:
        return (f"{self.path} ({self.format}): {len(self.matched)} matched "
                f"({100 * self.tensor_fraction:.1f}% of the backbone's tensors, "
                f"{100 * self.element_fraction:.1f}% of its elements), "
                f"{len(self.missing)} missing{_examples(self.missing)}, "
                f"{len(self.unexpected)} unexpected{_examples(self.unexpected)}, "
                f"{len(self.shape_mismatched)} shape-mismatched{_examples(self.shape_mismatched)}, "
                f"{len(self.reshaped)} reshaped, {len(self.skipped)} skipped{_examples(self.skipped)}")


def pyslowfast_to_pytorchvideo(key: str, multipathway: bool) -> Optional[str]:
    """PySlowFast parameter name -> pytorchvideo backbone name, None if it has none.

    Args:
        key: e.g. "s2.pathway0_res0.branch2.a_bn.weight" or "s1_fuse.conv_f2s.weight".
        multipathway: SlowFast layout (``multipathway_blocks.{p}``) or SlowOnly (flat).
    """
    def block(stage: int, pathway: int) -> Optional[str]:
        prefix = f"blocks.{stage - 1}"
        if not multipathway:  # SlowOnly has no fast pathway to take pathway1
            return prefix if pathway == 0 else None
        return f"{prefix}.multipathway_blocks.{pathway}"

    m = _STEM.match(key)
    if m:
        pathway, layer, rest = m.groups()
        prefix = block(1, int(pathway))
        return prefix and f"{prefix}.{'conv' if layer == 'conv' else 'norm'}.{rest}"
    m = _RES.match(key)
    if m:
        stage, pathway, idx, branch, rest = m.groups()
        prefix = block(int(stage), int(pathway))
        return prefix and f"{prefix}.res_blocks.{idx}.{_BRANCH[branch]}.{rest}"
    m = _FUSE.match(key)
    if m and multipathway:
        stage, layer, rest = m.groups()
        name = "conv_fast_to_slow" if layer == "conv_f2s" else "norm"
        return f"blocks.{int(stage) - 1}.multipathway_fusion.{name}.{rest}"
    return None


def _read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("model_state", "state_dict", "model"):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    if not isinstance(ckpt, dict) or not all(torch.is_tensor(v) for v in ckpt.values()):
        raise ValueError(f"{path}: not a state dict of tensors (also looked under "
                         "'model_state', 'state_dict', 'model')")
    # Checkpoints saved from DistributedDataParallel prefix every name with "module.".
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in ckpt.items()}


def _read_checkpoint(path: str, multipathway: bool) -> Tuple[str, Dict[str, torch.Tensor], Callable, List[str]]:
    """Format, tensors by the checkpoint's names, the map to backbone names, skipped names."""
    if path.endswith(".pkl"):
        c2 = read_caffe2_blobs(path)
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in c2.blobs.items()}

        def convert(key):
            key = caffe2_to_pyslowfast(key)
            return key and pyslowfast_to_pytorchvideo(key, multipathway)

        return "caffe2", state, convert, c2.skipped
    state = _read_state_dict(path)
    if any(k.startswith("s1.") for k in state):
        return "pyslowfast", state, lambda k: pyslowfast_to_pytorchvideo(k, multipathway), []
    return "pytorchvideo", state, lambda k: k, []


def _without_unit_dims(shape) -> Tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def load_kinetics_backbone(model_or_backbone: nn.Module, path: str) -> KineticsLoadReport:
    """Copy matching Kinetics weights into the video ResNet: ``model.backbone.bottom_up``
    (or whichever of ``model.backbone``, ``backbone.bottom_up``, the module itself is found first).

    Formats: a ``.pkl`` is a Caffe2 pickle of PySlowFast's model zoo, read with the
    restricted unpickler; its blob names (:mod:`woo.modeling.caffe2_names`), and a
    PySlowFast ``.pyth``'s names ("s1.pathway0_stem..."), map to pytorchvideo's; any
    other file is a PyTorch state dict, loaded with ``weights_only=True``. Checkpoint
    names absent from the backbone (the classification head, non-local blocks) are
    reported as unexpected; backbone keys the checkpoint lacks stay as they were and are
    reported as missing; shape mismatches are not loaded, except Caffe2 blobs whose shape
    differs only by unit dims, which are reshaped.

    Raises:
        ValueError: naming the file, when less than ``MIN_MATCHED`` of the backbone's
            tensors or of its elements would load (nothing is loaded then), or when the
            file is not a checkpoint.

    Returns:
        the report, also logged.
    """
    backbone = getattr(model_or_backbone, "backbone", model_or_backbone)
    backbone = getattr(backbone, "bottom_up", backbone)
    own = backbone.state_dict()
    fmt, state, convert, skipped = _read_checkpoint(path, getattr(backbone, "num_pathways", 1) > 1)
    report = KineticsLoadReport(path=path, format=fmt, skipped=skipped)
    to_load = {}
    for name, value in state.items():
        key = convert(name)
        if key not in own:
            report.unexpected.append(name)
            continue
        want = own[key].shape
        if value.shape != want:
            if fmt != "caffe2" or _without_unit_dims(value.shape) != _without_unit_dims(want):
                report.shape_mismatched.append((key, tuple(value.shape), tuple(want)))
                continue
            value = value.reshape(want)
            report.reshaped.append(key)
        to_load[key] = value
        report.matched.append(key)
    # BatchNorm's step counters are no weights (Caffe2 has none); they count nowhere.
    counted = [k for k in own if not k.endswith("num_batches_tracked")]
    mismatched = {k for k, _, _ in report.shape_mismatched}
    report.missing = [k for k in counted if k not in to_load and k not in mismatched]
    report.tensor_fraction = sum(k in to_load for k in counted) / max(len(counted), 1)
    elements = sum(own[k].numel() for k in counted)
    report.element_fraction = sum(own[k].numel() for k in counted if k in to_load) / max(elements, 1)
    if min(report.tensor_fraction, report.element_fraction) < MIN_MATCHED:
        raise ValueError(
            f"{report.summary()}: less than {MIN_MATCHED:.0%} of the backbone's tensors or elements would "
            "load, so this is not a checkpoint of this backbone (MODEL.VIDEO_RESNET ARCH, DEPTH, ...)"
        )
    backbone.load_state_dict(to_load, strict=False)
    logger.info("Kinetics init: %s", report.summary())
    if report.missing:
        logger.warning("Kinetics init: backbone keys not in the checkpoint: %s", report.missing)
    if report.unexpected:
        logger.info("Kinetics init: checkpoint keys not used (head etc.): %s", report.unexpected)
    nonlocal_blocks = [k for k in report.unexpected if "nonlocal" in k]
    if nonlocal_blocks:
        logger.warning("Kinetics init: %d blobs of non-local blocks not used (WOO's backbone has none): %s",
                       len(nonlocal_blocks), nonlocal_blocks)
    for key, got, want in report.shape_mismatched:
        logger.warning("Kinetics init: %s has shape %s in the checkpoint, %s in the model",
                       key, got, want)
    return report
