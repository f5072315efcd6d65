"""Inference modes of ``MODEL.INFERENCE``: arithmetic precision and model preparation.

Every inference entry point (``woo train --eval-only``, periodic evaluation,
the video predictor, ``woo demo``) prepares its model with
:func:`optimize_for_inference` and runs it under :func:`autocast_context`.
"""
from contextlib import nullcontext
from typing import ContextManager

import torch
from torch import nn

__all__ = ["PRECISIONS", "autocast_context", "optimize_for_inference"]

PRECISIONS = ("fp32", "bf16", "fp16")


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


def optimize_for_inference(model: nn.Module, cfg) -> nn.Module:
    """Prepare a model for inference as ``cfg.MODEL.INFERENCE`` says; returns the model to call.

    The model is put in eval mode; call it under ``torch.inference_mode()``
    and :func:`autocast_context`.
    """
    autocast_context(cfg.MODEL.INFERENCE.PRECISION, torch.device(cfg.MODEL.DEVICE).type)  # validates
    model.eval()
    if cfg.MODEL.INFERENCE.COMPILE:
        model = torch.compile(model)
    return model
