"""3D ResNet video backbones (SlowOnly and SlowFast) built from pytorchvideo blocks.

Module names follow pytorchvideo's ``create_resnet`` / ``create_slowfast``
(``blocks.0`` stem, ``blocks.1..4`` res2..res5), so pytorchvideo Kinetics
checkpoints load key for key; the classification head is not built.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch
from pytorchvideo.models.net import MultiPathWayWithFuse
from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
from pytorchvideo.models.slowfast import FastToSlowFusionBuilder
from pytorchvideo.models.stem import create_res_basic_stem
from torch import nn

from .norm import get_norm3d
from .tap_conv import TapConv3d

__all__ = ["VideoResNet", "StageShape", "ShapeSpec"]

STAGE_NAMES = ("res2", "res3", "res4", "res5")
_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class StageShape(NamedTuple):
    """Output of one stage: channels per pathway (slow first) and spatial stride."""

    channels: Tuple[int, ...]
    stride: int


class ShapeSpec(NamedTuple):
    """One named backbone output: channels and spatial stride (detectron2's ``ShapeSpec`` fields)."""

    channels: int
    stride: int


class VideoResNet(nn.Module):
    """SlowOnly ("slow") or SlowFast ("slowfast") 3D ResNet without head.

    res5 keeps stride 32 unless ``res5_dilation`` > 1, which makes it stride 16
    with dilated 3x3 convolutions (the no-FPN ablation). Temporal strides are 1
    everywhere, so every stage keeps the pathway's input frame count.
    """

    def __init__(
        self,
        *,
        arch: str,
        stage_depths: Sequence[int],
        stem_channels: int = 64,
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_conv_channel_ratio: int = 2,
        fusion_kernel_size: int = 7,
        res5_dilation: int = 1,
        freeze_at: int = 0,
        norm: str = "BN",
    ):
        """
        Args:
            arch: "slow" (one pathway) or "slowfast" (slow and fast pathways).
            stage_depths: bottleneck blocks in res2..res5.
            stem_channels: slow stem width; stage k has ``stem_channels * 4 * 2**(k-2)``.
            alpha: fast/slow frame-rate ratio (slowfast only).
            beta_inv: slow/fast channel ratio (slowfast only).
            fusion_conv_channel_ratio: output/input channels of the fast-to-slow conv.
            fusion_kernel_size: temporal kernel of the fast-to-slow conv.
            res5_dilation: 1 (stride 32) or 2 (stride 16, dilated res5).
            freeze_at: 0 trains all; 1 freezes the stem; k freezes stem and res2..res k.
            norm: "BN", "FrozenBN" or "SyncBN" (see :func:`woo.modeling.norm.get_norm3d`).
        """
        super().__init__()
        if arch not in ("slow", "slowfast"):
            raise ValueError(f"MODEL.VIDEO_RESNET.ARCH must be 'slow' or 'slowfast', got {arch!r}")
        if len(stage_depths) != 4 or min(stage_depths) < 1:
            raise ValueError(
                f"MODEL.VIDEO_RESNET.STAGE_DEPTHS must be 4 positive ints, got {list(stage_depths)}"
            )
        if res5_dilation not in (1, 2):
            raise ValueError(f"MODEL.VIDEO_RESNET.RES5_DILATION must be 1 or 2, got {res5_dilation}")
        self.arch = arch
        self.alpha = alpha if arch == "slowfast" else 1
        self.num_pathways = 2 if arch == "slowfast" else 1
        self.res5_dilation = res5_dilation
        self.freeze_at = freeze_at
        norm_layer = get_norm3d(norm)

        # Per pathway (slow, fast): stem temporal kernel and res2..res5 conv_a kernels,
        # as in pytorchvideo's slow_r50 / slowfast_r50.
        stem_kernels = [(1, 7, 7), (5, 7, 7)][: self.num_pathways]
        conv_a_kernels = [
            [(1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)],
            [(3, 1, 1)] * 4,
        ][: self.num_pathways]
        reduction = [1, beta_inv][: self.num_pathways]
        fuse = None
        if arch == "slowfast":
            fuse = FastToSlowFusionBuilder(
                slowfast_channel_reduction_ratio=beta_inv,
                conv_fusion_channel_ratio=fusion_conv_channel_ratio,
                conv_kernel_size=(fusion_kernel_size, 1, 1),
                conv_stride=(alpha, 1, 1),
                max_stage_idx=3,  # no fusion after res5
                norm=norm_layer,
            ).create_module
        # Channels the fast-to-slow fusion adds to the slow pathway's next input.
        fused = (lambda c: c // beta_inv * fusion_conv_channel_ratio) if fuse else (lambda c: 0)

        stems = [
            create_res_basic_stem(
                in_channels=3,
                out_channels=stem_channels // r,
                conv_kernel_size=k,
                conv_stride=(1, 2, 2),
                conv_padding=[s // 2 for s in k],
                conv=TapConv3d,  # nn.Conv3d, faster to train on the CPU for small stems
                pool=nn.MaxPool3d,
                pool_kernel_size=(1, 3, 3),
                pool_stride=(1, 2, 2),
                pool_padding=(0, 1, 1),
                norm=norm_layer,
            )
            for k, r in zip(stem_kernels, reduction)
        ]
        blocks = [self._wrap(stems, fuse, stem_channels, 0)]
        dim_in, dim_out, stride = stem_channels, stem_channels * 4, 4
        self._shapes: Dict[str, StageShape] = {}
        for idx, depth in enumerate(stage_depths):
            last = idx == 3
            dilation = res5_dilation if last else 1
            spatial_stride = 1 if idx == 0 or (last and dilation > 1) else 2
            stride *= spatial_stride
            stages = []
            for p, r in enumerate(reduction):
                stages.append(
                    create_res_stage(
                        depth=depth,
                        dim_in=dim_in // r + (fused(dim_in) if p == 0 else 0),
                        dim_inner=dim_out // 4 // r,
                        dim_out=dim_out // r,
                        bottleneck=create_bottleneck_block,
                        conv_a_kernel_size=conv_a_kernels[p][idx],
                        conv_a_stride=(1, 1, 1),
                        conv_a_padding=[s // 2 for s in conv_a_kernels[p][idx]],
                        conv_b_kernel_size=(1, 3, 3),
                        conv_b_stride=(1, spatial_stride, spatial_stride),
                        conv_b_padding=(0, dilation, dilation),
                        conv_b_dilation=(1, dilation, dilation),
                        norm=norm_layer,
                    )
                )
            blocks.append(self._wrap(stages, fuse, dim_out, idx + 1))
            self._shapes[STAGE_NAMES[idx]] = StageShape(tuple(dim_out // r for r in reduction), stride)
            dim_in, dim_out = dim_out, dim_out * 2
        self.blocks = nn.ModuleList(blocks)
        self._freeze()

    @staticmethod
    def _wrap(pathway_modules: List[nn.Module], fuse, dim: int, stage_idx: int) -> nn.Module:
        # SlowOnly keeps create_resnet's flat layout; SlowFast create_slowfast's.
        if fuse is None:
            return pathway_modules[0]
        return MultiPathWayWithFuse(
            multipathway_blocks=nn.ModuleList(pathway_modules),
            multipathway_fusion=fuse(fusion_dim_in=dim, stage_idx=stage_idx),
        )

    @classmethod
    def from_config(cls, cfg) -> Dict:
        r = cfg.MODEL.VIDEO_RESNET
        if r.DEPTH == 0:
            depths = tuple(r.STAGE_DEPTHS)
        elif r.DEPTH in _DEPTHS:
            depths = _DEPTHS[r.DEPTH]
        else:
            raise ValueError(f"MODEL.VIDEO_RESNET.DEPTH must be 0, 50 or 101, got {r.DEPTH}")
        return dict(
            arch=r.ARCH,
            stage_depths=depths,
            stem_channels=r.STEM_CHANNELS,
            alpha=r.ALPHA,
            beta_inv=r.BETA_INV,
            fusion_conv_channel_ratio=r.FUSION_CONV_CHANNEL_RATIO,
            fusion_kernel_size=r.FUSION_KERNEL_SIZE,
            res5_dilation=r.RES5_DILATION,
            freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
            norm=r.NORM,
        )

    def _freeze(self) -> None:
        for block in self.blocks[: self.freeze_at]:
            for p in block.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "VideoResNet":
        super().train(mode)
        # Frozen blocks keep their Kinetics BatchNorm statistics.
        for block in self.blocks[: self.freeze_at]:
            block.eval()
        return self

    def output_shape(self) -> Dict[str, StageShape]:
        """Channels per pathway and stride of res2..res5."""
        return dict(self._shapes)

    def pathway_inputs(self, clip: torch.Tensor) -> List[torch.Tensor]:
        """Split a clip into pathway inputs.

        Args:
            clip: (N, 3, T, H, W), T frames for the fastest pathway.

        Returns:
            [slow] or [slow, fast]; slow takes every alpha-th frame, so its
            middle frame T_s // 2 is the clip's key frame T // 2 when alpha divides T.
        """
        if self.num_pathways == 1:
            return [clip]
        if clip.shape[2] % self.alpha:
            raise ValueError(
                f"INPUT.NUM_FRAMES ({clip.shape[2]}) must be a multiple of "
                f"MODEL.VIDEO_RESNET.ALPHA ({self.alpha}) for SlowFast"
            )
        return [clip[:, :, :: self.alpha], clip]

    def forward(self, clip: torch.Tensor) -> Dict[str, List[torch.Tensor]]:
        """
        Args:
            clip: normalized frames (N, 3, T, H, W); H and W multiples of 32.

        Returns:
            {"res2".."res5": [slow (N, C, T_s, H/s, W/s), fast (N, C/beta, T, H/s, W/s)]},
            each stage's own output before fast-to-slow fusion.
        """
        x = self.pathway_inputs(clip)
        out = {}
        for idx, block in enumerate(self.blocks):
            if self.num_pathways == 1:
                x = [block(x[0])]
                stage_out = x
            else:
                x = [m(t) for m, t in zip(block.multipathway_blocks, x)]
                stage_out = x
                x = block.multipathway_fusion(list(x))
            if idx > 0:
                out[STAGE_NAMES[idx - 1]] = list(stage_out)
        return out
