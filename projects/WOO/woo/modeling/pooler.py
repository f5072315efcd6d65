"""RoIAlign over FPN levels, each box pooled from the level its size picks."""
from typing import List, Sequence

import torch
from torch import nn
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper

__all__ = ["FPNRoIAlign"]


class FPNRoIAlign(nn.Module):
    """Multi-level RoIAlign with ``aligned=True`` (pixel centres at +0.5, as detectron2's
    ROIAlignV2): torchvision's ``MultiScaleRoIAlign`` has no such option.

    A box of size ``s = sqrt(w * h)`` pixels goes to level
    ``floor(canonical_level + log2(s / canonical_box_size))``, clamped to the levels
    given (the FPN paper's rule, as detectron2's ``assign_boxes_to_levels`` and
    torchvision's ``LevelMapper`` apply it), and is pooled there at scale ``1 / 2**level``.
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
        x = features[0]
        out = x.new_zeros((rois.shape[0], x.shape[1], self.output_size, self.output_size))
        for idx, (feature, scale) in enumerate(zip(features, scales)):
            inds = torch.where(assigned == idx)[0]
            pooled = roi_align(feature, rois[inds], self.output_size, scale, self.sampling_ratio, aligned=True)
            # Out-of-place scatter, not an indexed assignment: tracing (ONNX, TorchScript) keeps it.
            out = out.scatter(0, inds.view(-1, 1, 1, 1).expand_as(pooled), pooled.to(out.dtype))
        return out
