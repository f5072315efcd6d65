"""The paper's two-stage baseline, timed next to WOO by ``benchmarks/latency.py``.

A person detector (torchvision Faster R-CNN R50-FPN, at its shipped input scale
of 800 pixels short side unless told otherwise) on the key frame, then an
action model (pytorchvideo ``slowfast_r50_detection`` / ``slow_r50_detection``:
the WOO config's backbone with a dilated res5 and a RoIAlign head) on the
whole clip with K person boxes. Both are randomly initialized: weights do not
change the time, and nothing is downloaded.
"""
from typing import Dict, List, Sequence

import torch
from torch import nn

from woo.commands.latency import Subject, example_clips
from woo.modeling.flops import flop_analysis
from woo.runtime.inference_modes import (
    autocast_context,
    cast_autocast_weights,
    fold_batch_norms,
    to_channels_last,
    use_channels_last,
)

__all__ = ["TwoStagePipeline", "DETECTOR_MIN_SIZE", "prepare_two_stage"]

# torchvision's Faster R-CNN resizes its input to this short side (long side at most
# DETECTOR_MAX_SIZE) unless told otherwise: the detector as shipped, and the scale
# person detectors of two-stage AVA pipelines run at.
DETECTOR_MIN_SIZE = 800
DETECTOR_MAX_SIZE = 1333


class TwoStagePipeline(nn.Module):
    """Detector on the key frame, then the action model on the clip with K boxes."""

    def __init__(self, *, detector: nn.Module, action_model: nn.Module, num_boxes: int,
                 alpha: int, pixel_mean: Sequence[float], pixel_std: Sequence[float]):
        """
        Args:
            detector: torchvision detection model; ``detector([image (3, H, W) 0..1])``
                returns per image {"boxes", "labels", "scores"} sorted by score.
            action_model: pytorchvideo detection network; ``action_model(inputs, rois)``
                with rois (N * K, 5) (clip index, x1, y1, x2, y2) returns (N * K, C).
            num_boxes: K boxes per clip: the top-scoring persons, padded with
                whole-frame boxes when the detector finds fewer.
            alpha: fast/slow frame ratio for SlowFast; 0 for one pathway.
            pixel_mean: per-channel RGB mean in 0..255 of the action model's input.
            pixel_std: per-channel RGB std in 0..255.
        """
        super().__init__()
        if num_boxes < 1:
            raise ValueError(f"--num-boxes must be >= 1, got {num_boxes}")
        self.detector = detector
        self.action_model = action_model
        self.num_boxes = num_boxes
        self.alpha = alpha
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1, 1), False)

    @property
    def input_modules(self) -> List[nn.Module]:
        """The modules whose inputs are images or clips (for channels-last conversion)."""
        return [self.detector.backbone, self.action_model]

    @classmethod
    def from_config(cls, cfg, *, image_size: Sequence[int], num_boxes: int = 5,
                    detector_min_size: int = DETECTOR_MIN_SIZE) -> Dict:
        """Keyword arguments for the WOO config's backbone: arch, depth (R101 for 101,
        else R50), frames and alpha; widths are pytorchvideo's (stem 64, beta 1/8).

        Args:
            image_size: (H, W) of the frames.
            num_boxes: K.
            detector_min_size: short side the detector resizes the key frame to (long
                side at most 1333), as torchvision ships it: 800; 0 runs it at the
                input size (no resizing: WOO's input).
        """
        from pytorchvideo.models.hub import slow_r50_detection, slowfast_r50_detection
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        r = cfg.MODEL.VIDEO_RESNET
        depth = r.DEPTH if r.DEPTH in (50, 101) else 50
        frames = cfg.INPUT.NUM_FRAMES
        height, width = image_size
        if detector_min_size < 0:
            raise ValueError(f"--detector-min-size must be >= 0, got {detector_min_size}")
        if detector_min_size:
            sizes = dict(min_size=detector_min_size, max_size=DETECTOR_MAX_SIZE)
        else:
            sizes = dict(min_size=min(height, width), max_size=max(height, width))
        detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, **sizes)
        if r.ARCH == "slowfast":
            action_model = slowfast_r50_detection(
                pretrained=False, model_depth=depth, model_num_class=cfg.MODEL.WOO.NUM_ACTIONS,
                slowfast_fusion_conv_stride=(r.ALPHA, 1, 1),
                head_pool_kernel_sizes=((frames // r.ALPHA, 1, 1), (frames, 1, 1)))
            alpha = r.ALPHA
        else:
            action_model = slow_r50_detection(
                pretrained=False, model_depth=depth, model_num_class=cfg.MODEL.WOO.NUM_ACTIONS,
                head_pool_kernel_size=(frames, 1, 1))
            alpha = 0
        return dict(detector=detector, action_model=action_model, num_boxes=num_boxes,
                    alpha=alpha, pixel_mean=cfg.MODEL.PIXEL_MEAN, pixel_std=cfg.MODEL.PIXEL_STD)

    def person_boxes(self, detections: List[Dict[str, torch.Tensor]], height: int,
                     width: int) -> torch.Tensor:
        """Top-K person boxes of each image, padded with whole-frame boxes -> (N, K, 4)."""
        k = self.num_boxes
        out = []
        for det in detections:
            boxes = det["boxes"][det["labels"] == 1][:k].float()  # COCO label 1: person
            pad = boxes.new_tensor([0.0, 0.0, width, height]).expand(k - len(boxes), 4)
            out.append(torch.cat([boxes, pad]))
        return torch.stack(out)

    def forward(self, clips: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            clips: (N, 3, T, H, W) 0..255 RGB.

        Returns:
            {"boxes" (N, K, 4) pixels, "actions" (N, K, C) action probabilities}.
        """
        n, _, t, h, w = clips.shape
        key_frames = clips[:, :, t // 2] / 255.0
        boxes = self.person_boxes(self.detector(list(key_frames)), h, w)
        normalized = (clips - self.pixel_mean) / self.pixel_std
        inputs = [normalized[:, :, :: self.alpha], normalized] if self.alpha else normalized
        index = torch.arange(n, device=clips.device, dtype=boxes.dtype)
        rois = torch.cat([index.view(n, 1, 1).expand(n, self.num_boxes, 1), boxes], dim=2)
        actions = self.action_model(inputs, rois.view(-1, 5))
        return {"boxes": boxes, "actions": actions.view(n, self.num_boxes, -1)}


class _DetectorToTensors(nn.Module):
    """Tensor-in, tensors-out view of a torchvision detector, as tracing needs."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor):
        det = self.detector([image])[0]
        return det["boxes"], det["scores"], det["labels"]


def _two_stage_gflops(pipeline: nn.Module, clip: torch.Tensor) -> Dict[str, float]:
    """GFLOPs (fvcore) of the detector on the key frame and of the action model on the
    clip with K boxes."""
    t, h, w = clip.shape[1:]
    detector = flop_analysis(_DetectorToTensors(pipeline.detector), (clip[:, t // 2] / 255,))
    normalized = (clip[None] - pipeline.pixel_mean) / pipeline.pixel_std
    inputs = [normalized[:, :, :: pipeline.alpha], normalized] if pipeline.alpha else normalized
    rois = torch.cat([torch.zeros(pipeline.num_boxes, 1),
                      torch.tensor([[0.0, 0.0, w, h]]).expand(pipeline.num_boxes, 4)], dim=1)
    action = flop_analysis(pipeline.action_model, (inputs, rois))
    with torch.no_grad():
        return {"detector": detector.total() / 1e9, "action model": action.total() / 1e9}


def prepare_two_stage(cfg, *, height: int, width: int, batch: int, flops: bool,
                      num_boxes: int, detector_min_size: int = DETECTOR_MIN_SIZE) -> Subject:
    """The two-stage pipeline with WOO's ``cfg.MODEL.INFERENCE`` treatment (precision,
    BN folding, channels-last, weights in the autocast dtype; not torch.compile)."""
    device = torch.device(cfg.MODEL.DEVICE)
    inf = cfg.MODEL.INFERENCE
    torch.manual_seed(0)
    pipeline = TwoStagePipeline(**TwoStagePipeline.from_config(
        cfg, image_size=(height, width), num_boxes=num_boxes,
        detector_min_size=detector_min_size)).eval()
    clips = example_clips(cfg, height, width, batch, device)
    split_flops = _two_stage_gflops(pipeline, clips[0].cpu()) if flops else None  # on the CPU
    pipeline.to(device)
    for p in pipeline.parameters():
        p.requires_grad_(False)
    if inf.FOLD_BN:
        fold_batch_norms(pipeline)
    if use_channels_last(cfg):
        to_channels_last(pipeline, pipeline.input_modules)
    cast_autocast_weights(pipeline, inf.PRECISION)

    def call():
        with torch.inference_mode(), autocast_context(inf.PRECISION, device.type):
            return pipeline(clips)

    parts = {"detector": pipeline.detector, "action model": pipeline.action_model}
    info = {"gflops": sum(split_flops.values()) if split_flops else None,
            "split_gflops": split_flops, "num_boxes": num_boxes, "precision": inf.PRECISION,
            "detector_min_size": detector_min_size}
    return Subject(call, parts, info)
