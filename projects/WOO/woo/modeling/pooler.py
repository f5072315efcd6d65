"""RoIAlign over FPN levels, each box pooled from the level its size picks; and the mean
of aligned RoIAlign over its bins as a matrix product."""
from typing import List, Sequence, Tuple

import torch
from torch import nn
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper

__all__ = ["FPNRoIAlign", "roi_align_mean_weights"]


def _axis_taps(lo: torch.Tensor, hi: torch.Tensor, scale: float, size: int,
               output_size: int, sampling_ratio: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Bilinear taps along one axis of aligned RoIAlign, as torchvision computes them.

    Args:
        lo, hi: (M,) box edges in input pixels (x1 and x2, or y1 and y2).
        scale: feature-map scale (1 / stride).
        size: feature-map length along the axis.

    Returns:
        indices (M, R, S, 2) int64 and weights (M, R, S, 2) float32 of the lower and
        upper neighbour of sample S of bin R; a sample more than one cell outside the
        map has weight 0, as in torchvision.
    """
    start = lo * scale - 0.5
    end = hi * scale - 0.5
    bin_size = ((end - start) / output_size)[:, None, None]
    bins = torch.arange(output_size, dtype=lo.dtype, device=lo.device)[None, :, None]
    samples = torch.arange(sampling_ratio, dtype=lo.dtype, device=lo.device)[None, None, :] + 0.5
    # torchvision: roi_start + ph * bin_size + (iy + .5) * bin_size / grid, in this order.
    coord = start[:, None, None] + bins * bin_size + samples * bin_size / sampling_ratio
    valid = (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0.0)
    low = coord.floor()
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    coord = torch.where(edge, low, coord)
    high = torch.where(edge, low, low + 1)
    frac = coord - low
    weights = torch.stack([1.0 - frac, frac], dim=-1) * valid[..., None].to(frac.dtype)
    return torch.stack([low, high], dim=-1).long(), weights


def roi_align_mean_weights(boxes: torch.Tensor, scale: float, height: int, width: int,
                           output_size: int, sampling_ratio: int) -> torch.Tensor:
    """The weights that average aligned RoIAlign over its bins: RoIAlign is linear in the
    map and its sampling is separable in y and x, so the mean of ``roi_align(x, box,
    R, scale, S, aligned=True)`` over the R x R bins is ``weights[box] @ x`` with x as
    (H * W, C). Pooling a box on many frames then costs one matrix product.

    Args:
        boxes: (N, P, 4) x1 y1 x2 y2 in input pixels, P boxes per clip.
        scale: 1 / stride of the map.
        height, width: map size.
        output_size: R.
        sampling_ratio: S > 0 samples per bin and axis (torchvision's adaptive 0 is
            not supported).

    Returns:
        (N, P, H * W) float32.
    """
    if sampling_ratio <= 0:
        raise ValueError(f"roi_align_mean_weights needs sampling_ratio > 0, got {sampling_ratio}")
    n, p = boxes.shape[:2]
    flat = boxes.reshape(n * p, 4).float()
    axes = []
    for lo, hi, size in ((flat[:, 1], flat[:, 3], height), (flat[:, 0], flat[:, 2], width)):
        idx, w = _axis_taps(lo, hi, scale, size, output_size, sampling_ratio)
        dense = flat.new_zeros(n * p, size).scatter_add_(1, idx.view(n * p, -1), w.view(n * p, -1))
        axes.append(dense / (output_size * sampling_ratio))
    return (axes[0][:, :, None] * axes[1][:, None, :]).view(n, p, height * width)


class FPNRoIAlign(nn.Module):
    """Multi-level RoIAlign with ``aligned=True`` (pixel centres at +0.5, as detectron2's
    ROIAlignV2): torchvision's ``MultiScaleRoIAlign`` has no such option.

    A box of size ``s = sqrt(w * h)`` pixels goes to level
    ``floor(canonical_level + log2(s / canonical_box_size))``, clamped to the levels
    given (the FPN paper's rule, as detectron2's ``assign_boxes_to_levels`` and
    torchvision's ``LevelMapper`` apply it), and is pooled there at scale ``1 / 2**level``.

    Levels are pooled one by one and the results put back in box order with one
    index (not scattered into a zero tensor). Under bf16/fp16 autocast torchvision
    pools in float32 and casts its input on every call: :meth:`prepare` does it once
    for the actor head's six stages.
    """

    def __init__(self, *, levels: Sequence[int], output_size: int, sampling_ratio: int = 2,
                 canonical_box_size: int = 224, canonical_level: int = 4):
        """
        Args:
            levels: pyramid levels k of the features, finest first, consecutive
                (level k has stride 2**k, e.g. 2..5 for "p2".."p5").
            output_size: R of the R x R output.
            sampling_ratio: bilinear samples per output bin and axis.
            canonical_box_size: box size (pixels) that maps to ``canonical_level``.
            canonical_level: level of a box of ``canonical_box_size``.
        """
        super().__init__()
        levels = [int(k) for k in levels]
        if not levels or levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(f"FPN levels must be consecutive, finest first; got {levels}")
        self.levels = tuple(levels)
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.mapper = LevelMapper(levels[0], levels[-1], canonical_box_size, canonical_level)

    def assign_levels(self, boxes: List[torch.Tensor]) -> torch.Tensor:
        """Index into ``levels`` of every box, (sum P_i,) int64, for boxes as in :meth:`forward`."""
        return self.mapper(boxes)

    @staticmethod
    def prepare(features: List[torch.Tensor]) -> List[torch.Tensor]:
        """``features`` as RoIAlign reads them: float32, contiguous (NCHW). A caller that
        pools the same features many times (the actor head's stages) converts them once;
        float32 NCHW features are returned as they are."""
        return [f.float().contiguous() for f in features]

    def forward(self, features: List[torch.Tensor], boxes: List[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            features: one tensor per level of ``levels``, (N, C, H_k, W_k).
            boxes: per image of the batch, (P_i, 4) x1 y1 x2 y2 in input pixels.

        Returns:
            (sum P_i, C, R, R), the boxes in order, image after image.
        """
        rois = torch.cat([torch.cat([b.new_full((b.shape[0], 1), i), b], dim=1) for i, b in enumerate(boxes)])
        scales = [2.0 ** -k for k in self.levels]
        if len(features) == 1:
            return roi_align(features[0], rois, self.output_size, scales[0], self.sampling_ratio, aligned=True)
        assigned = self.assign_levels(boxes)
        pooled, order = [], []
        for idx, (feature, scale) in enumerate(zip(features, scales)):
            inds = torch.where(assigned == idx)[0]
            pooled.append(roi_align(feature, rois[inds], self.output_size, scale, self.sampling_ratio,
                                    aligned=True))
            order.append(inds)
        # Row k of the concatenation is box order[k]: box b is row argsort(order)[b].
        return torch.cat(pooled).index_select(0, torch.argsort(torch.cat(order)))
