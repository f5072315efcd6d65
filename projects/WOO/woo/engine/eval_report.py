"""The evaluation report of a training's test split: ``<inference dir>/report/``."""
import os
from typing import Dict

from woo.reports.evaluation_report import write_evaluation_report

__all__ = ["REPORT_DIR", "write_split_report"]

# Folder of the report inside a split's inference folder.
REPORT_DIR = "report"


def write_split_report(inference_dir: str, summary: Dict, result: Dict, dataset_name: str, iteration: int) -> str:
    """Write the report of one split's evaluation.

    Args:
        inference_dir: the split's folder of evaluation files (detections.csv, eval_details.npz).
        summary: the split's figures as ``metrics.json`` holds them.
        result: what the split's evaluator returned (``"details"``, ``"label_types"``).
        dataset_name, iteration: named in the heading.

    Returns:
        the path of the per-class AP chart (for TensorBoard).
    """
    # AVA: the official protocol's matching (metrics.json's per_class); JHMDB / UCF: the frame-mAP's.
    protocol = "official" if "official" in result["details"] else "frame"
    paths = write_evaluation_report(
        os.path.join(inference_dir, REPORT_DIR), summary, result["details"][protocol],
        label_types=result.get("label_types"), title=f"Evaluation of {dataset_name}",
        subtitle=f"iteration {iteration}, {result.get('num_key_frames', 0)} key frames",
        protocol=protocol if protocol != "frame" else "")
    return paths["per_class_ap.png"]
