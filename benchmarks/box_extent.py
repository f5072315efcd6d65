#!/usr/bin/env python
"""How well a run's detected boxes cover each action class's actors, and what they score.

For every ground-truth actor of every key frame, the detected box of highest IoU on that
key frame (a box is one row group of ``inference/detections.csv``); per action class of
the actors: their number, the mean IoU of those boxes, how many reach the actor's top edge
(their top at most ``--top-tolerance`` of the actor's height below it) and the class's mean
score on the boxes that reach it and on those that do not. A class whose cue lies at an
edge of the box (the synthetic set's "raise arm", an arm above the head) is missed when the
boxes stop short of it. Prints a table and writes JSON.

    python benchmarks/box_extent.py --run output/synthetic/WOO_Tiny \\
        [--groundtruth $WOO_DATASETS/woo_synthetic/annotations/woo_synthetic_val_v1.1.csv] \\
        [--labelmap .../woo_synthetic_action_list_v1.1.pbtxt] [--json box_extent.json]
"""
import argparse
import os
import sys
from typing import Dict

import numpy as np
import torch
from torchvision.ops import box_iou

from woo.data.catalog import get_split
from woo.formats.ava_box_csv import read_box_csv
from woo.formats.json_io import write_json
from woo.formats.label_map import read_labelmap


def _rows_by_key(rows) -> Dict[int, np.ndarray]:
    """{index into ``rows.keys``: that key frame's row indices}, in one sort."""
    order = np.argsort(rows.key, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(rows.key[order])) + 1) if len(order) else []
    return {int(rows.key[g[0]]): g for g in groups}


def box_extent(detections: str, groundtruth: str, labelmap: str, top_tolerance: float = 0.05) -> Dict:
    """{class name: figures} (see the module docstring) of detection CSV ``detections``."""
    categories, class_ids = read_labelmap(labelmap)
    names = {c["id"]: c["name"] for c in categories}
    gt = read_box_csv(groundtruth, class_ids, last_column="person_id")
    det = read_box_csv(detections, class_ids, finite_scores=True)
    det_index = {k: i for i, k in enumerate(det.keys)}
    gt_rows, det_rows = _rows_by_key(gt), _rows_by_key(det)
    no_rows = np.zeros(0, dtype=np.int64)
    stats = {a: {"actors": 0, "iou": [], "reaches_top": [], "score": []} for a in sorted(class_ids)}
    for gi, key in enumerate(gt.keys):
        rows = gt_rows.get(gi, no_rows)  # none: a key frame listed without boxes
        drows = det_rows.get(det_index.get(key, -1), no_rows)
        # one entry per distinct detected box, with each class's score
        boxes, inverse = np.unique(det.boxes[drows], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        # one entry per ground-truth actor (person id and box), with its classes
        actors, actor_of_row = np.unique(np.column_stack([gt.boxes[rows], gt.score[rows]]), axis=0,
                                         return_inverse=True)
        actor_of_row = actor_of_row.reshape(-1)
        iou = box_iou(torch.from_numpy(actors[:, :4]), torch.from_numpy(boxes)).numpy()  # (actors, boxes)
        iou = np.nan_to_num(iou, nan=0.0)  # two zero-area boxes: 0 / 0, no overlap
        for a, actor in enumerate(actors):
            height = actor[3] - actor[1]
            best = int(iou[a].argmax()) if len(boxes) else -1
            for action in gt.action_id[rows[actor_of_row == a]]:
                s = stats[int(action)]
                s["actors"] += 1
                if best < 0:
                    s["iou"].append(0.0), s["reaches_top"].append(False), s["score"].append(0.0)
                    continue
                scored = drows[(inverse == best) & (det.action_id[drows] == action)]
                s["iou"].append(float(iou[a, best]))
                s["reaches_top"].append(bool(boxes[best, 1] - actor[1] <= top_tolerance * height))
                s["score"].append(float(det.score[scored].max()) if len(scored) else 0.0)
    result = {}
    for action, s in stats.items():
        reach, score = np.array(s["reaches_top"], dtype=bool), np.array(s["score"])
        result[names[action]] = {
            "actors": s["actors"],
            "mean_iou": float(np.mean(s["iou"])) if s["actors"] else None,
            "reach_top": int(reach.sum()),
            "score_reaching_top": float(score[reach].mean()) if reach.any() else None,
            "score_short_of_top": float(score[~reach].mean()) if (~reach).any() else None,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a training's OUTPUT_DIR (reads inference/detections.csv)")
    parser.add_argument("--dataset", default="woo_synthetic_val", help="the split the run was evaluated on")
    parser.add_argument("--groundtruth", default=None, help="default: the dataset's annotation CSV")
    parser.add_argument("--labelmap", default=None, help="default: the dataset's evaluation label map")
    parser.add_argument("--top-tolerance", type=float, default=0.05)
    parser.add_argument("--json", default=None, help="default: RUN/box_extent.json")
    args = parser.parse_args()
    detections = os.path.join(args.run, "inference", "detections.csv")
    try:
        split = get_split(args.dataset) if args.groundtruth is None or args.labelmap is None else None
        groundtruth = args.groundtruth or split.annotations
        labelmap = args.labelmap or split.eval_label_map
        result = box_extent(detections, groundtruth, labelmap, args.top_tolerance)
        out = args.json or os.path.join(args.run, "box_extent.json")
        write_json(out, {"command": sys.argv, "run": args.run, "groundtruth": groundtruth,
                         "top_tolerance": args.top_tolerance, "classes": result})
    except KeyError as e:  # an unknown --dataset
        sys.exit(f"box_extent.py: error: --dataset: {e.args[0]}")
    except (OSError, ValueError) as e:
        sys.exit(f"box_extent.py: error: {e}")
    except KeyboardInterrupt:
        print("box_extent.py: interrupted; nothing written", file=sys.stderr)
        sys.exit(130)
    print(f"{'class':<12} {'actors':>6} {'mean IoU':>8} {'reach top':>9} {'score (reach / short)':>22}")
    for name, r in result.items():
        fmt = lambda v: "-" if v is None else f"{v:.2f}"
        print(f"{name:<12} {r['actors']:>6} {fmt(r['mean_iou']):>8} {r['reach_top']:>9} "
              f"{fmt(r['score_reaching_top']):>11} / {fmt(r['score_short_of_top'])}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
