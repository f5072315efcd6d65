"""Frame-mAP evaluation of a model on a dataset split, across processes.

Every process runs the model on its shard of the split; predictions are
converted to the evaluation contract (normalized boxes, per-class scores),
gathered on rank 0, scored with :func:`woo.evaluation.evaluate_predictions`
and written as an AVA detection CSV.
"""
import logging
import os
from typing import Dict, Iterable, List

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from woo.formats.eval_details import save_details
from woo.utils import comm

__all__ = ["ActionDetectionEvaluator", "inference_on_dataset", "DETAILS_FILE"]

# What an evaluation keeps for its report, beside detections.csv (see woo.formats.eval_details).
DETAILS_FILE = "eval_details.npz"

logger = logging.getLogger(__name__)


class ActionDetectionEvaluator:
    """Collects a split's predictions and scores them with AVA frame-mAP@0.5.

    Args:
        dataset_name: a name known to :mod:`woo.data.catalog`.
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: score of a (box, action) detection, ``MODEL.WOO.ACTION_SCORE``:
            "action" (the action probability) or "actor_x_action" (times the actor score).
    """

    def __init__(self, dataset_name: str, output_dir: str = "", action_score: str = "actor_x_action"):
        from woo.modeling.meta_arch import ACTION_SCORES

        if action_score not in ACTION_SCORES:
            raise ValueError(f"MODEL.WOO.ACTION_SCORE must be one of {ACTION_SCORES}, got {action_score!r}")
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.action_score = action_score
        self._predictions: List[Dict] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: List[Dict], outputs: List[Dict]) -> None:
        """Convert one batch of model outputs to the evaluation contract.

        Args:
            inputs: the mapper's dicts (``video_id``, ``timestamp``, ``image_size``).
            outputs: the model's dicts: ``boxes`` (N, 4) in pixels of
                ``image_size``, ``scores`` (N,) actor scores, ``actions`` (N, C).
        """
        for inp, out in zip(inputs, outputs):
            self.add(inp["video_id"], inp["timestamp"], inp["image_size"], out["boxes"], out["scores"], out["actions"])

    def add(self, video_id: str, timestamp: int, image_size, boxes: torch.Tensor,
            actor_scores: torch.Tensor, actions: torch.Tensor) -> None:
        """One key frame's detections: ``boxes`` (N, 4) in pixels of ``image_size`` (H, W),
        ``actor_scores`` (N,), ``actions`` (N, C) probabilities."""
        height, width = image_size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        boxes = (boxes.detach().float().cpu() / scale).clamp_(0.0, 1.0)
        scores = actions.detach().float().cpu()
        if self.action_score == "actor_x_action":
            # The chance that there is an actor *and* it does the action.
            scores = scores * actor_scores.detach().float().cpu()[:, None]
        self._predictions.append(
            {
                "video_id": video_id,
                "timestamp": int(timestamp),
                "boxes": boxes.numpy().astype(np.float32),
                "scores": scores.numpy().astype(np.float32),
            }
        )

    def evaluate(self) -> Dict:
        """Gather every process's predictions; on rank 0 score them.

        Returns:
            On rank 0 the entries of :data:`woo.evaluation.METRIC_NAMES` of both
            protocols (``{"frame_mAP@0.5": float, "per_class": {name: AP},
            "frame_mAP@0.5_pyslowfast": float, "per_class_pyslowfast": {...}}``),
            ``"num_key_frames"``, ``"details"`` (``{protocol: EvaluationDetails}``,
            also written to ``eval_details.npz``) and ``"label_types"`` (``{name:
            label_type}`` from the split's label maps); ``{}`` on other ranks.
        """
        from woo.data.ava_label_map import read_label_types
        from woo.data.catalog import get_split
        from woo.evaluation import evaluate_predictions, write_detections_csv

        gathered = comm.all_gather_object(self._predictions)
        if not comm.is_main_process():
            return {}
        predictions, seen = [], set()
        for part in gathered:
            for pred in part:
                key = (pred["video_id"], pred["timestamp"])
                # A sharding sampler may repeat key frames to even out the shards.
                if key not in seen:
                    seen.add(key)
                    predictions.append(pred)
        split = get_split(self.dataset_name)
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            csv_path = os.path.join(self.output_dir, "detections.csv")
            write_detections_csv(csv_path, predictions)
            detected = sum(len(pred["boxes"]) > 0 for pred in predictions)
            logger.info(f"Evaluated {len(predictions)} key frames, {detected} of them with at least one detection; "
                        f"wrote their detections to {csv_path}")
        result = evaluate_predictions(
            predictions, split.annotations, split.eval_label_map, split.exclusions, keep_details=True
        )
        result["num_key_frames"] = len(predictions)
        # AVA's 60-class evaluation list has no label_type; its 80-class training list has.
        result["label_types"] = {**read_label_types(split.label_map), **read_label_types(split.eval_label_map)}
        if self.output_dir:
            save_details(os.path.join(self.output_dir, DETAILS_FILE), result["details"])
        return result


@torch.inference_mode()
def inference_on_dataset(
    model: nn.Module,
    data_loader: Iterable[List[Dict]],
    evaluator: ActionDetectionEvaluator,
    *,
    precision: str = "fp32",
    show_progress: bool = True,
) -> Dict:
    """Run ``model`` in eval mode over ``data_loader`` and return ``evaluator.evaluate()``.

    Args:
        precision: ``MODEL.INFERENCE.PRECISION`` ("fp32", "bf16" or "fp16"; autocast).
        show_progress: a tqdm bar on rank 0.
    """
    from woo.inference.optimize import autocast_context

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
