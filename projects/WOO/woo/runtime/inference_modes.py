"""Inference modes of ``MODEL.INFERENCE``: arithmetic precision and model preparation.

Every inference entry point (``woo train --eval-only``, periodic evaluation,
the video predictor, ``woo demo``, ``woo latency``, ``woo export``) prepares
its model with :func:`optimize_for_inference` and runs it under
``torch.inference_mode()`` and :func:`autocast_context`.

Ownership: :func:`optimize_for_inference` never changes the model it is given
unless the caller says it owns it (``inplace=True``). By default it prepares a
deep copy, so periodic evaluation during training can call it on the model
being trained: folding BatchNorm into the convolutions would otherwise
destroy the running statistics and the BN parameters that training updates.
"""
import copy
import functools
import logging
from collections import Counter
from contextlib import nullcontext
from typing import ContextManager, List, Sequence, Tuple

import torch
import torch.fx
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["PRECISIONS", "CHANNELS_LAST_MODES", "HEADS_PRECISIONS", "autocast_context", "cpu_has_fast_bf16", "optimize_for_inference",
           "use_channels_last", "fold_batch_norms", "to_channels_last", "cast_autocast_weights"]

PRECISIONS = ("fp32", "bf16", "fp16")
CHANNELS_LAST_MODES = ("auto", "on", "off")
HEADS_PRECISIONS = ("fp32", "same")

logger = logging.getLogger(__name__)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# torchvision's detectors freeze their BN as FrozenBatchNorm2d: the same affine map.
# SyncBatchNorm in eval mode is a BatchNorm with running statistics: it folds the same way.
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, FrozenBatchNorm2d)


class _BatchNormLeafTracer(torch.fx.Tracer):
    """Keeps FrozenBatchNorm2d (outside torch.nn) as one call_module node."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        # TapConv3d is an nn.Conv3d outside torch.nn: a leaf too, so its batch norm folds into it.
        return isinstance(m, (FrozenBatchNorm2d, nn.Conv3d)) or super().is_leaf_module(m, module_qualified_name)


def autocast_context(precision: str, device_type: str) -> ContextManager:
    """Autocast for ``precision`` on ``device_type`` ("cuda" or "cpu"); fp32 is a no-op.

    Raises:
        ValueError: an unknown precision, or fp16 off CUDA (CPU autocast has no fast fp16).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"MODEL.INFERENCE.PRECISION must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return nullcontext()
    if precision == "fp16" and device_type != "cuda":
        raise ValueError("MODEL.INFERENCE.PRECISION 'fp16' needs a CUDA MODEL.DEVICE; use 'bf16' on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX); without them
    oneDNN emulates bf16 and a bf16 model is many times slower than in fp32."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


@functools.lru_cache(maxsize=None)
def _warn_emulated_bf16() -> None:
    """Once a process (periodic evaluation prepares a model many times)."""
    logger.warning("MODEL.INFERENCE.PRECISION bf16 on a CPU without AVX512-BF16 or AMX: bf16 is "
                   "emulated there and much slower than fp32")


def _has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, _BATCH_NORMS) for m in module.modules())


def _conv_bn_pairs(module: nn.Module) -> List[Tuple[str, str]]:
    """(conv name, bn name) pairs of ``module`` where the BN's only input is the conv's
    output, nothing else reads that output and neither module is called elsewhere,
    found by tracing ``module`` with torch.fx.

    Raises whatever torch.fx raises when ``module.forward`` cannot be traced
    symbolically (Python control flow on tensors or on a list input).
    """
    graph = _BatchNormLeafTracer().trace(module)
    named = dict(module.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(named.get(node.target), _BATCH_NORMS):
            continue
        source = node.args[0]
        if (isinstance(source, torch.fx.Node) and source.op == "call_module"
                and isinstance(named.get(source.target), _CONVS) and len(source.users) == 1
                # a module called at two places is shared: folding would change the other call
                and calls[source.target] == 1 and calls[node.target] == 1):
            pairs.append((source.target, node.target))
    return pairs


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that directly follows a convolution into that
    convolution, in place: the conv gets the folded weight and bias, the BN
    becomes ``nn.Identity``. Exact up to float rounding.

    Pairs are found from the data flow, not from names: the largest submodules
    whose ``forward`` torch.fx can trace are traced (a module it cannot trace,
    such as WOO itself with its list-of-dicts input, is searched child by child).

    Args:
        module: a model in eval mode; it is modified.

    Returns:
        the number of BatchNorms folded.

    Raises:
        ValueError: ``module`` is in training mode.
    """
    if module.training:
        raise ValueError("fold_batch_norms needs a model in eval mode (BN running statistics)")
    folded = 0
    stack = [module]
    while stack:
        current = stack.pop()
        if not _has_batch_norm(current) or isinstance(current, _BATCH_NORMS):
            continue
        try:
            pairs = _conv_bn_pairs(current)
        except Exception as e:  # noqa: BLE001 (untraceable forward: search the children instead)
            logger.debug("fold_batch_norms: %s not traceable (%s); searching its children",
                         type(current).__name__, e)
            stack.extend(current.children())
            continue
        for conv_name, bn_name in pairs:
            current.set_submodule(conv_name, _fused_conv(current.get_submodule(conv_name),
                                                         current.get_submodule(bn_name)))
            current.set_submodule(bn_name, nn.Identity())
            folded += 1
    return folded


def _fused_conv(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of ``conv`` whose output equals ``bn(conv(x))`` in eval mode."""
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


_MEMORY_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def _channels_last(value):
    """``value`` with its 4-D/5-D tensors (also inside lists and tuples) made channels-last."""
    if isinstance(value, torch.Tensor) and value.dim() in _MEMORY_FORMATS:
        return value.contiguous(memory_format=_MEMORY_FORMATS[value.dim()])
    if isinstance(value, (list, tuple)):
        return type(value)(_channels_last(v) for v in value)
    return value


def _channels_last_hook(module: nn.Module, args: tuple) -> tuple:
    return _channels_last(args)


def to_channels_last(model: nn.Module, input_modules: Sequence[nn.Module]) -> nn.Module:
    """Store conv weights channels-last (4-D: NHWC, 5-D: NTHWC) and convert the clips or
    images that enter each of ``input_modules`` likewise, so convolutions run in the layout
    oneDNN and cuDNN prefer; in place. Exact up to the order of float summation.

    Returns:
        ``model``.
    """
    with torch.no_grad():
        for p in model.parameters():
            # Module.to(memory_format=...) refuses models that mix 4-D and 5-D weights.
            if p.dim() in _MEMORY_FORMATS:
                p.data = p.data.contiguous(memory_format=_MEMORY_FORMATS[p.dim()])
    for module in input_modules:
        module.register_forward_pre_hook(_channels_last_hook)
    return model


_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cast_autocast_weights(model: nn.Module, precision: str, keep: Sequence[nn.Module] = ()) -> nn.Module:
    """Store the weights and biases of linear and convolution layers in the autocast dtype
    of ``precision``, in place: autocast casts them to that dtype on every call anyway,
    so results are the same and the per-call copies are saved. The model must then
    run under :func:`autocast_context` with the same precision. The submodules of
    ``keep`` (run with autocast off) keep their float32 weights.

    Returns:
        ``model``.
    """
    dtype = _AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return model
    kept = {id(m) for k in keep for m in k.modules()}
    for module in model.modules():
        if id(module) in kept:
            continue
        if isinstance(module, (nn.Linear,) + _CONVS):
            module.to(dtype)
    return model


def use_channels_last(cfg) -> bool:
    """Whether ``MODEL.INFERENCE.CHANNELS_LAST`` puts convolutions in channels-last layout
    for ``MODEL.INFERENCE.PRECISION``.

    "auto" follows what was measured on SlowFast R50 (README, "Cost"): channels-last
    made bf16 1.4x faster and fp32 1.1x slower on the CPU.
    """
    mode = cfg.MODEL.INFERENCE.CHANNELS_LAST
    if mode not in CHANNELS_LAST_MODES:
        raise ValueError(f"MODEL.INFERENCE.CHANNELS_LAST must be one of {CHANNELS_LAST_MODES}, got {mode!r}")
    if mode == "auto":
        return cfg.MODEL.INFERENCE.PRECISION != "fp32"
    return mode == "on"


def _float32_heads(model: nn.Module, cfg) -> List[nn.Module]:
    """The heads that ``MODEL.INFERENCE.HEADS_PRECISION`` keeps in float32 (none in fp32)."""
    inf = cfg.MODEL.INFERENCE
    if inf.HEADS_PRECISION not in HEADS_PRECISIONS:
        raise ValueError(f"MODEL.INFERENCE.HEADS_PRECISION must be one of {HEADS_PRECISIONS}, "
                         f"got {inf.HEADS_PRECISION!r}")
    heads = getattr(model, "roi_heads", None)
    if inf.PRECISION == "fp32" or inf.HEADS_PRECISION != "fp32" or not hasattr(heads, "float32_inference"):
        return []
    return [heads]


def optimize_for_inference(model: nn.Module, cfg, *, inplace: bool = False) -> nn.Module:
    """Prepare a model for inference as ``cfg.MODEL.INFERENCE`` says; returns the model to call.

    In eval mode: BatchNorm folded into the preceding convolutions
    (``FOLD_BN``), channels-last conv weights and input clip (``CHANNELS_LAST``, see
    :func:`use_channels_last`),
    linear and conv weights stored in the autocast dtype of a bf16/fp16 ``PRECISION``,
    except in the ROI heads when ``HEADS_PRECISION`` is "fp32" (they then run in float32
    with autocast off), ``torch.compile`` (``COMPILE``). Call the result under
    ``torch.inference_mode()`` and :func:`autocast_context`.

    Args:
        model: a WOO model (a DistributedDataParallel wrapper is unwrapped).
        cfg: the config; ``MODEL.INFERENCE`` and ``MODEL.DEVICE`` are read.
        inplace: False (default) prepares a deep copy and leaves ``model`` as it
            was, training mode included; True changes ``model`` itself: only for
            a caller that owns the model and will not train it again.

    Returns:
        the prepared model (a copy unless ``inplace``).
    """
    inf = cfg.MODEL.INFERENCE
    device_type = torch.device(cfg.MODEL.DEVICE).type
    autocast_context(inf.PRECISION, device_type)  # validates
    if inf.PRECISION == "bf16" and device_type == "cpu" and not cpu_has_fast_bf16():
        _warn_emulated_bf16()
    model = getattr(model, "module", model) if isinstance(
        model, nn.parallel.DistributedDataParallel) else model
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if inf.FOLD_BN:
        num = fold_batch_norms(model)
        logger.debug("optimize_for_inference: folded %d BatchNorms", num)
    if use_channels_last(cfg):
        to_channels_last(model, [getattr(model, "backbone", model)])
        if hasattr(model, "channels_last_input"):
            model.channels_last_input = True  # WOO normalizes its clips into that layout
    float32_heads = _float32_heads(model, cfg)
    cast_autocast_weights(model, inf.PRECISION, keep=float32_heads)
    for head in float32_heads:
        head.float32_inference = True
    if inf.COMPILE:
        model = torch.compile(model)
    return model
