"""Frame-mAP and video-mAP of a model on a JHMDB-21 / UCF101-24 split, across processes.

The interface is :class:`woo.engine.evaluator.ActionDetectionEvaluator`'s
(``reset`` / ``process`` / ``evaluate``); :func:`build_action_evaluator` picks
the evaluator a split needs from its ``evaluator_type``.
"""
import logging
import os
from typing import Dict, List

import numpy as np
import torch

from woo.formats.eval_details import save_details
from woo.utils import comm

from .evaluator import DETAILS_FILE, ActionDetectionEvaluator

__all__ = ["TubeDetectionEvaluator", "build_action_evaluator", "uses_tube_evaluation"]

logger = logging.getLogger(__name__)


def uses_tube_evaluation(dataset_name: str) -> bool:
    """Whether split ``dataset_name`` is scored with frame-mAP and video-mAP (JHMDB / UCF layout)."""
    from woo.data.catalog import get_split

    return getattr(get_split(dataset_name), "evaluator_type", "ava") == "tube"


def build_action_evaluator(cfg, dataset_name: str, output_dir: str = ""):
    """The evaluator of split ``dataset_name``: tube evaluation or AVA frame-mAP."""
    if uses_tube_evaluation(dataset_name):
        return TubeDetectionEvaluator(dataset_name, output_dir, action_score=cfg.MODEL.WOO.ACTION_SCORE,
                                      detections_per_frame=cfg.TEST.DETECTIONS_PER_IMAGE)
    return ActionDetectionEvaluator(dataset_name, output_dir, action_score=cfg.MODEL.WOO.ACTION_SCORE)


class TubeDetectionEvaluator:
    """Collects a split's per-frame detections; scores frame-mAP@0.5 and video-mAP.

    Every (actor, class) pair is a detection scored by ``MODEL.WOO.ACTION_SCORE``;
    a frame keeps its ``detections_per_frame`` best. Boxes go back to pixels of
    the original frames. On rank 0, :func:`woo.evaluation.tube_eval.evaluate_tube_detections`
    scores them (tubes from :mod:`woo.evaluation.tube_linking`), and
    ``detections.csv`` is written in the format ``woo tube-eval`` reads.

    Args:
        dataset_name: a :class:`woo.data.tube_dataset.TubeSplit` name.
        output_dir: where ``detections.csv`` is written ("" writes nothing).
        action_score: "action" or "actor_x_action".
        detections_per_frame: most (box, class) detections kept per frame.
    """

    def __init__(self, dataset_name: str, output_dir: str = "", *, action_score: str = "actor_x_action",
                 detections_per_frame: int = 100):
        from woo.modeling.meta_arch import ACTION_SCORES

        if action_score not in ACTION_SCORES:
            raise ValueError(f"MODEL.WOO.ACTION_SCORE must be one of {ACTION_SCORES}, got {action_score!r}")
        self.dataset_name = dataset_name
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
            height, width = inp["image_size"]
            scale = torch.tensor([inp["width"] / width, inp["height"] / height] * 2, dtype=torch.float32)
            boxes = out["boxes"].detach().float().cpu() * scale  # (N, 4) original pixels
            scores = out["actions"].detach().float().cpu()  # (N, C)
            if self.action_score == "actor_x_action":
                scores = scores * out["scores"].detach().float().cpu()[:, None]
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
        from woo.data.catalog import get_split
        from woo.evaluation.tube_eval import evaluate_tube_detections, write_tube_detections_csv
        from woo.evaluation.tube_map import FrameDetections

        gathered = comm.all_gather_object(self._predictions)
        if not comm.is_main_process():
            return {}
        split = get_split(self.dataset_name)
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
