"""Frame-mAP and video-mAP of a model on a JHMDB-21 / UCF101-24 split, across processes.

The interface is :class:`woo.engine.ava_evaluator.AVAEvaluator`'s
(``reset`` / ``process`` / ``evaluate``); :func:`woo.engine.evaluators.build_evaluator`
picks the evaluator a split needs.
"""
import logging
import os
from typing import Dict, List

import numpy as np
import torch

from woo.data.tube_dataset import TubeSplit
from woo.evaluation.tube_eval import evaluate_tube_detections, write_tube_detections_csv
from woo.evaluation.tube_map import FrameDetections
from woo.formats.boxes import rescale_boxes
from woo.formats.eval_details import save_details
from woo.modeling.meta_arch import detection_scores
from woo.runtime import comm

from .ava_evaluator import DETAILS_FILE

__all__ = ["TubeEvaluator"]

logger = logging.getLogger(__name__)


class TubeEvaluator:
    """Collects a split's per-frame detections; scores frame-mAP@0.5 and video-mAP.

    Every (actor, class) pair is a detection scored by ``MODEL.WOO.ACTION_SCORE``;
    a frame keeps its ``detections_per_frame`` best. Boxes go back to pixels of
    the original frames. On rank 0, :func:`woo.evaluation.tube_eval.evaluate_tube_detections`
    scores them (tubes from :mod:`woo.evaluation.tube_linking`), and
    ``detections.csv`` is written in the format ``woo tube-eval`` reads.

    Args:
        split: the split's files (ground-truth pickle, subset, frame stride).
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: "action" or "actor_x_action".
        detections_per_frame: most (box, class) detections kept per frame.
    """

    def __init__(self, split: TubeSplit, output_dir: str = "", *, action_score: str = "actor_x_action",
                 detections_per_frame: int = 100):
        detection_scores(torch.zeros(0, 1), torch.zeros(0), action_score)  # checks the name
        self.split = split
        self.dataset_name = split.name
        self.output_dir = output_dir
        self.action_score = action_score
        self.detections_per_frame = int(detections_per_frame)
        self._predictions: List[Dict] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: List[Dict], outputs: List[Dict]) -> None:
        """
        Args:
            inputs: the mapper's dicts (``video_id``, ``timestamp`` = 1-based frame,
                ``image_size``, ``height``, ``width``).
            outputs: ``boxes`` (N, 4) pixels of ``image_size``, ``scores`` (N,), ``actions`` (N, C).
        """
        for inp, out in zip(inputs, outputs):
            # (N, 4) pixels of the original frames
            boxes = rescale_boxes(out["boxes"].detach().float().cpu(), inp["image_size"], (inp["height"], inp["width"]))
            scores = detection_scores(out["actions"], out["scores"], self.action_score)  # (N, C)
            flat = scores.flatten()
            top = flat.argsort(descending=True, stable=True)[: self.detections_per_frame]
            num_classes = scores.shape[1]
            self._predictions.append({
                "video_id": inp["video_id"],
                "frame": int(inp["timestamp"]),
                "boxes": boxes[top // num_classes].numpy(),
                "labels": (top % num_classes).numpy(),
                "scores": flat[top].numpy(),
            })

    def evaluate(self) -> Dict:
        """Gather every process's detections; on rank 0 score them.

        Returns:
            On rank 0 ``{"mAP": frame-mAP@0.5, "frame_mAP@0.5", "video_mAP@0.2",
            "video_mAP@0.5", "video_mAP@0.75", "video_mAP@0.5:0.95", "per_class":
            {name: frame AP}, "num_key_frames", "details": {"frame": EvaluationDetails}
            (also written to ``eval_details.npz``), "label_types": {}}``; ``{}`` on other ranks.
        """
        gathered = comm.all_gather_object(self._predictions)
        if not comm.is_main_process():
            return {}
        split = self.split
        groundtruth = split.read_groundtruth()
        videos = split.videos(groundtruth)
        index = {video: i for i, video in enumerate(videos)}
        by_frame = {}
        for part in gathered:
            for pred in part:
                # A sharding sampler may repeat frames to even out the shards.
                by_frame.setdefault((index[pred["video_id"]], pred["frame"]), pred)
        expected = {v: range(1, groundtruth.nframes[v] + 1, split.frame_stride) for v in videos}
        missing = sum(len(frames) for frames in expected.values()) - len(by_frame)
        if missing:
            logger.warning("%s: %d frames of the split have no prediction; they count as missed",
                           self.dataset_name, missing)
        keys = sorted(by_frame)
        preds = [by_frame[k] for k in keys]
        detections = FrameDetections(
            video=np.concatenate([np.full(len(p["scores"]), k[0]) for k, p in zip(keys, preds)] or [[]]),
            frame=np.concatenate([np.full(len(p["scores"]), k[1]) for k, p in zip(keys, preds)] or [[]]),
            label=np.concatenate([p["labels"] for p in preds] or [[]]),
            score=np.concatenate([p["scores"] for p in preds] or [[]]),
            boxes=np.concatenate([p["boxes"] for p in preds] or [np.zeros((0, 4))]),
        )
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            csv_path = os.path.join(self.output_dir, "detections.csv")
            write_tube_detections_csv(csv_path, videos, detections)
            logger.info(f"Wrote {len(detections)} detections of {len(keys)} frames to {csv_path}")
        result = evaluate_tube_detections(
            groundtruth, videos, detections,
            evaluated_frames=None if split.frame_stride == 1 else expected, keep_details=True,
        )
        result["mAP"] = result["frame_mAP@0.5"]
        result["num_key_frames"] = len(keys)
        result["label_types"] = {}  # JHMDB and UCF name no action types
        if self.output_dir:
            save_details(os.path.join(self.output_dir, DETAILS_FILE), result["details"])
        return result
