"""GFLOPs (fvcore, one multiply-add = one flop) and parameters per clip (``woo flops``)."""
from typing import Dict, Tuple

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from .traceable import ClipToTensors

__all__ = ["count_flops", "flop_analysis"]


def _shape(value) -> Tuple[int, ...]:
    return tuple(value.type().sizes())


def _native_mha_flops(inputs, outputs) -> int:
    """nn.MultiheadAttention's inference fast path: projections plus the two matmuls."""
    q, k = _shape(inputs[0]), _shape(inputs[1])  # (B, L_q, E), (B, L_k, E)
    b, lq, e = q
    lk = k[1]
    projections = b * (lq + 2 * lk) * e * e + b * lq * e * e
    return projections + 2 * b * lq * lk * e


def _sdpa_flops(inputs, outputs) -> int:
    """softmax(Q K^T) V: two matmuls of (..., L_q, D) by (..., L_k, D)."""
    q, k = _shape(inputs[0]), _shape(inputs[1])
    batch = 1
    for size in q[:-2]:
        batch *= size
    return 2 * batch * q[-2] * k[-2] * q[-1]


def flop_analysis(module: nn.Module, inputs: Tuple):
    """fvcore's FlopCountAnalysis of ``module(*inputs)`` with this package's formulas for
    ``nn.MultiheadAttention``'s fused kernels and its warnings silenced."""
    analysis = FlopCountAnalysis(module, inputs)
    # fvcore has no formula for these attention kernels; without one they count 0.
    analysis.set_op_handle("aten::_native_multi_head_attention", _native_mha_flops,
                           "aten::scaled_dot_product_attention", _sdpa_flops)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return analysis


def count_flops(model: nn.Module, num_frames: int, height: int, width: int) -> Dict:
    """FLOPs of ``model`` at inference on one (3, T, H, W) clip.

    Returns:
        {"gflops", "params_m", "by_module" (GFLOPs of the parts: "backbone.bottom_up",
        "backbone.fpn", "roi_heads.actor_head", "roi_heads.action_head", or of a
        top-level child that has no children),
        "uncounted_ops" ({op: calls} fvcore has no formula for)}.
    """
    model.eval()
    # Every proposal goes through the action head whatever its score, so the
    # count does not depend on how confident an untrained model is.
    clip = torch.zeros(3, num_frames, height, width)
    analysis = flop_analysis(ClipToTensors(model), (clip,))
    with torch.no_grad():
        total = analysis.total()
        by_module = analysis.by_module()
    parts = []
    for name, child in model.named_children():
        parts += [f"{name}.{sub}" for sub, _ in child.named_children()] or [name]
    children = {name: by_module[f"model.{name}"] / 1e9 for name in parts if by_module.get(f"model.{name}", 0) > 0}
    return {
        "gflops": total / 1e9,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "by_module": children,
        "uncounted_ops": dict(analysis.unsupported_ops()),
    }
