"""AVA frame-mAP@0.5 of a model on an AVA-layout split, across processes.

Every process runs the model on its shard of the split; predictions are
converted to the evaluation contract (normalized boxes, per-class scores),
gathered on rank 0, rounded as an AVA detection CSV holds them, written as
one and scored with :func:`woo.evaluation.evaluate_predictions`: ``woo ava-eval``
on the written ``detections.csv`` gives the same figures to the last digit.
"""
import logging
import os
from typing import Dict, List

import numpy as np
import torch

from woo.data.ava_dataset import AVASplit
from woo.evaluation.detections import round_as_written, write_detections_csv
from woo.evaluation.evaluate import evaluate_predictions
from woo.formats.boxes import boxes_to_unit
from woo.formats.eval_details import save_details
from woo.formats.label_map import read_label_types
from woo.modeling.meta_arch import detection_scores
from woo.runtime import comm

__all__ = ["AVAEvaluator", "DETAILS_FILE"]

# What an evaluation keeps for its report, beside detections.csv (see woo.formats.eval_details).
DETAILS_FILE = "eval_details.npz"

logger = logging.getLogger(__name__)


class AVAEvaluator:
    """Collects a split's predictions and scores them with AVA frame-mAP@0.5.

    Args:
        split: the files of the split (ground truth, evaluated label map, exclusions).
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: score of a (box, action) detection, ``MODEL.WOO.ACTION_SCORE``:
            "action" (the action probability) or "actor_x_action" (times the actor score).
    """

    def __init__(self, split: AVASplit, output_dir: str = "", action_score: str = "actor_x_action"):
        detection_scores(torch.zeros(0, 1), torch.zeros(0), action_score)  # checks the name
        self.split = split
        self.dataset_name = split.name
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
        boxes = boxes_to_unit(boxes.detach().float().cpu(), height, width).clamp_(0.0, 1.0)
        scores = detection_scores(actions, actor_scores, self.action_score)
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
        # What is scored is what detections.csv holds, so `woo ava-eval` on it gives these figures exactly.
        predictions = round_as_written(predictions)
        split = self.split
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            csv_path = os.path.join(self.output_dir, "detections.csv")
            write_detections_csv(csv_path, predictions)
            detected = sum(len(pred["boxes"]) > 0 for pred in predictions)
            logger.info(f"Evaluated {len(predictions)} key frames, {detected} of them with at least one detection; "
                        f"wrote their detections to {csv_path}")
        result = evaluate_predictions(
            predictions, split.annotations, split.eval_label_map, split.exclusions, keep_details=True,
            empty_key_frames=split.all_key_frames,
        )
        result["num_key_frames"] = len(predictions)
        # AVA's 60-class evaluation list has no label_type; its 80-class training list has.
        result["label_types"] = {**read_label_types(split.label_map), **read_label_types(split.eval_label_map)}
        if self.output_dir:
            save_details(os.path.join(self.output_dir, DETAILS_FILE), result["details"])
        return result
