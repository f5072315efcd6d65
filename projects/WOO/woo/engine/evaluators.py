"""Evaluating a model on a split: the evaluator a split needs, and the loop that feeds it."""
from typing import Dict, Iterable, List, Union

import torch
from torch import nn
from tqdm import tqdm

from woo.data.catalog import get_split
from woo.data.tube_dataset import TubeSplit
from woo.runtime import comm
from woo.runtime.inference_modes import autocast_context

from .ava_evaluator import AVAEvaluator
from .tube_evaluator import TubeEvaluator

__all__ = ["build_evaluator", "inference_on_dataset"]


def build_evaluator(cfg, dataset_name: str, output_dir: str = "") -> Union[AVAEvaluator, TubeEvaluator]:
    """The evaluator of split ``dataset_name``: :class:`TubeEvaluator` (frame-mAP and video-mAP)
    for the JHMDB / UCF layout, :class:`AVAEvaluator` (frame-mAP@0.5) otherwise.

    Args:
        output_dir: where ``detections.csv`` is written ("" writes nothing).
    """
    split = get_split(dataset_name)
    if isinstance(split, TubeSplit):
        return TubeEvaluator(split, output_dir, action_score=cfg.MODEL.WOO.ACTION_SCORE,
                             detections_per_frame=cfg.TEST.DETECTIONS_PER_IMAGE)
    return AVAEvaluator(split, output_dir, action_score=cfg.MODEL.WOO.ACTION_SCORE)


@torch.inference_mode()
def inference_on_dataset(
    model: nn.Module,
    data_loader: Iterable[List[Dict]],
    evaluator,
    *,
    precision: str = "fp32",
    show_progress: bool = True,
) -> Dict:
    """Run ``model`` in eval mode over ``data_loader`` and return ``evaluator.evaluate()``.

    Args:
        precision: ``MODEL.INFERENCE.PRECISION`` ("fp32", "bf16" or "fp16"; autocast).
        show_progress: a tqdm bar on rank 0.
    """
    evaluator.reset()
    was_training = model.training
    model.eval()
    try:
        total = len(data_loader) if hasattr(data_loader, "__len__") else None
        bar = tqdm(
            data_loader,
            total=total,
            desc=f"eval {evaluator.dataset_name}",
            disable=not (show_progress and comm.is_main_process()),
            dynamic_ncols=True,
        )
        device_type = next(model.parameters()).device.type
        for inputs in bar:
            with autocast_context(precision, device_type):
                outputs = model(inputs)
            evaluator.process(inputs, outputs)
    finally:
        model.train(was_training)
    return evaluator.evaluate()
