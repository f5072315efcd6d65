"""Normalization layers of the video backbone, chosen by ``MODEL.VIDEO_RESNET.NORM``."""
from typing import Callable

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["FrozenBatchNorm3d", "get_norm3d", "NORMS"]

NORMS = ("BN", "FrozenBN", "SyncBN")


class FrozenBatchNorm3d(FrozenBatchNorm2d):
    """torchvision's ``FrozenBatchNorm2d`` for (N, C, T, H, W) inputs.

    Statistics and affine parameters are buffers: never trained, never
    updated, and stored under BatchNorm's keys, so Kinetics checkpoints load.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        # momentum is accepted (pytorchvideo's builders pass it) and has no use.
        super().__init__(num_features, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.view(shape) + bias.view(shape)


def get_norm3d(norm: str) -> Callable[..., nn.Module]:
    """The 3D norm layer class of ``MODEL.VIDEO_RESNET.NORM``.

    "BN": ``nn.BatchNorm3d``; "FrozenBN": :class:`FrozenBatchNorm3d`; "SyncBN":
    ``nn.SyncBatchNorm`` (statistics over all processes; plain BN when not distributed).
    """
    layers = {"BN": nn.BatchNorm3d, "FrozenBN": FrozenBatchNorm3d, "SyncBN": nn.SyncBatchNorm}
    if norm not in layers:
        raise ValueError(f"MODEL.VIDEO_RESNET.NORM must be one of {NORMS}, got {norm!r}")
    return layers[norm]
