"""Initialize the video backbone from a Kinetics checkpoint (pytorchvideo or PySlowFast)."""
import logging
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

__all__ = ["KineticsLoadReport", "load_kinetics_backbone", "pyslowfast_to_pytorchvideo"]

logger = logging.getLogger(__name__)

_STEM = re.compile(r"^s1\.pathway(\d)_stem\.(conv|bn)\.(.+)$")
_FUSE = re.compile(r"^s(\d)_fuse\.(conv_f2s|bn)\.(.+)$")
_RES = re.compile(r"^s(\d)\.pathway(\d)_res(\d+)\.(branch1|branch1_bn|branch2\.[abc]|branch2\.[abc]_bn)\.(.+)$")
_BRANCH = {"branch1": "branch1_conv", "branch1_bn": "branch1_norm"}
_BRANCH.update({f"branch2.{c}": f"branch2.conv_{c}" for c in "abc"})
_BRANCH.update({f"branch2.{c}_bn": f"branch2.norm_{c}" for c in "abc"})


@dataclass
class KineticsLoadReport:
    """What loading a Kinetics checkpoint into the backbone did (backbone key names)."""

    path: str
    format: str  # "pytorchvideo" or "pyslowfast"
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)  # e.g. the classification head
    shape_mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.path} ({self.format}): {len(self.matched)} matched, "
                f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.shape_mismatched)} shape-mismatched")


def pyslowfast_to_pytorchvideo(key: str, multipathway: bool) -> Optional[str]:
    """PySlowFast parameter name -> pytorchvideo backbone name, None if it has none.

    Args:
        key: e.g. "s2.pathway0_res0.branch2.a_bn.weight" or "s1_fuse.conv_f2s.weight".
        multipathway: SlowFast layout (``multipathway_blocks.{p}``) or SlowOnly (flat).
    """
    def block(stage: int, pathway: int) -> str:
        prefix = f"blocks.{stage - 1}"
        return f"{prefix}.multipathway_blocks.{pathway}" if multipathway else prefix

    m = _STEM.match(key)
    if m:
        pathway, layer, rest = m.groups()
        return f"{block(1, int(pathway))}.{'conv' if layer == 'conv' else 'norm'}.{rest}"
    m = _RES.match(key)
    if m:
        stage, pathway, idx, branch, rest = m.groups()
        return f"{block(int(stage), int(pathway))}.res_blocks.{idx}.{_BRANCH[branch]}.{rest}"
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


def load_kinetics_backbone(model_or_backbone: nn.Module, path: str) -> KineticsLoadReport:
    """Copy matching Kinetics weights into the video ResNet: ``model.backbone.bottom_up``
    (or whichever of ``model.backbone``, ``backbone.bottom_up``, the module itself is found first).

    Loads with ``weights_only=True``; recognises PySlowFast names ("s1.pathway0_stem...")
    and maps them to pytorchvideo names. Keys absent from the backbone (the
    classification head) are reported as unexpected; backbone keys the checkpoint
    lacks stay as they were and are reported as missing; shape mismatches are not loaded.

    Returns:
        the report, also logged.
    """
    backbone = getattr(model_or_backbone, "backbone", model_or_backbone)
    backbone = getattr(backbone, "bottom_up", backbone)
    state = _read_state_dict(path)
    fmt = "pyslowfast" if any(k.startswith("s1.") for k in state) else "pytorchvideo"
    if fmt == "pyslowfast":
        multipathway = getattr(backbone, "num_pathways", 1) > 1
        state = {pyslowfast_to_pytorchvideo(k, multipathway) or k: v for k, v in state.items()}
    own = backbone.state_dict()
    report = KineticsLoadReport(path=path, format=fmt)
    to_load = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            report.shape_mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            to_load[key] = value
            report.matched.append(key)
    mismatched = {k for k, _, _ in report.shape_mismatched}
    report.missing = [k for k in own if k not in to_load and k not in mismatched]
    backbone.load_state_dict(to_load, strict=False)
    logger.info("Kinetics init: %s", report.summary())
    if report.missing:
        logger.warning("Kinetics init: backbone keys not in the checkpoint: %s", report.missing)
    if report.unexpected:
        logger.info("Kinetics init: checkpoint keys not used (head etc.): %s", report.unexpected)
    for key, got, want in report.shape_mismatched:
        logger.warning("Kinetics init: %s has shape %s in the checkpoint, %s in the model",
                       key, got, want)
    return report
