"""A WOO model as a function of tensors, as tracing (FLOP counting, export) needs."""
from typing import Tuple

import torch
from torch import nn

__all__ = ["ClipToTensors"]


class ClipToTensors(nn.Module):
    """Tensor-in, tensors-out view of a WOO model, as tracing needs: a (3, T, H, W) clip
    to its kept boxes (M, 4), actor scores (M,) and action scores (M, C)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        result = self.model([{"clip": clip, "image_size": tuple(clip.shape[-2:])}])[0]
        return result["boxes"], result["scores"], result["actions"]
