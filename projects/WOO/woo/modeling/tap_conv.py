"""A 3D convolution that trains on the CPU as one 2D convolution over its temporal taps.

oneDNN computes the weight gradient of a 3D convolution with few output channels over
a large input slowly on the CPU. The fast pathway's stem of the synthetic configs
(3 -> 4 channels, 5x7x7 kernel, batch of 4 clips of 8 frames, 160x192) took 433 ms for
forward, batch norm and backward on one thread of an AVX2 CPU, against 92 ms as one 2D
convolution of all frames with the kernel's 5 temporal slices stacked as 20 output
channels, summed over a shift in time. With 8 output channels (SlowFast R50's fast stem)
it was 503 against 276 ms; with 16, 515 against 493 ms, so the 2D form is used up to
``MAX_TAP_CHANNELS`` stacked channels (``python benchmarks/tap_conv.py --threads 1``).
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TapConv3d", "conv3d_by_temporal_taps", "MAX_TAP_CHANNELS"]

# Output channels x temporal kernel up to which the 2D form is used in CPU training.
MAX_TAP_CHANNELS = 40


def conv3d_by_temporal_taps(x: torch.Tensor, weight: torch.Tensor, bias, stride, padding) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding)`` for temporal stride 1, computed in 2D.

    Args:
        x: (N, C, T, H, W) clip.
        weight: (C_out, C, kt, kh, kw), no groups, no dilation.
        bias: (C_out,) or None.
        stride: (1, sh, sw).
        padding: (pt, ph, pw).
    Returns:
        (N, C_out, T + 2 pt - kt + 1, H', W'), equal to ``F.conv3d`` up to float rounding.
    """
    n, c, t, h, w = x.shape
    c_out, _, kt, kh, kw = weight.shape
    pt = padding[0]
    frames = x.transpose(1, 2).reshape(n * t, c, h, w)
    # Every temporal slice of the kernel applied to every frame: (N*T, kt*C_out, H', W').
    taps = F.conv2d(frames, weight.permute(2, 0, 1, 3, 4).reshape(kt * c_out, c, kh, kw),
                    stride=stride[1:], padding=padding[1:])
    # taps[j][dt]: slice dt of the kernel on input frame j, (N, C_out, H', W'). Unbinding
    # (not slicing a padded tensor) keeps the backward to one stack of the gradients.
    taps = [frame.unbind(1) for frame in taps.view(n, t, kt, c_out, taps.shape[-2], taps.shape[-1]).unbind(1)]
    t_out = t + 2 * pt - kt + 1
    # Output frame i sums slice dt of the kernel on input frame i - pt + dt, where that exists.
    frames_out = []
    for i in range(t_out):
        parts = [taps[i - pt + dt][dt] for dt in range(kt) if 0 <= i - pt + dt < t]
        frame = parts[0]
        for part in parts[1:]:
            frame = frame + part
        frames_out.append(frame)
    out = torch.stack(frames_out, dim=2)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1, 1)
    return out


class TapConv3d(nn.Conv3d):
    """``nn.Conv3d`` (same parameters and state dict) that trains on the CPU in the 2D form.

    The 2D form is used when training with gradients on a CPU tensor, for a temporal
    kernel > 1 with temporal stride 1, no groups, no dilation, zero padding given as
    numbers, and ``out_channels * kt <= MAX_TAP_CHANNELS``; otherwise, in inference,
    export and on GPUs, this is ``nn.Conv3d``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kt = self.kernel_size[0]
        self.use_taps = (
            kt > 1 and self.stride[0] == 1 and self.groups == 1 and self.dilation == (1, 1, 1)
            and self.padding_mode == "zeros" and not isinstance(self.padding, str)
            and self.out_channels * kt <= MAX_TAP_CHANNELS
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_taps and self.training and torch.is_grad_enabled() and x.device.type == "cpu":
            return conv3d_by_temporal_taps(x, self.weight, self.bias, self.stride, self.padding)
        return super().forward(x)
