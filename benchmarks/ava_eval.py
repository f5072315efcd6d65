"""Time the AVA frame-mAP evaluator on predictions of AVA-val size.

Default size: 64 videos x 897 key frames x 10 boxes x 80 action scores
(46M detection rows, 34M of them in the 60 evaluated classes). Prints the time
to evaluate in-memory predictions (both protocols), to write the detection CSV,
and to evaluate that CSV under each protocol, and writes them as JSON. One core:

    taskset -c 0 python benchmarks/ava_eval.py [--videos 64] [--json benchmarks/results/ava_eval.json]
"""
import argparse
import os
import platform
import resource
import tempfile
import time

import numpy as np

from woo.evaluation import PROTOCOLS, evaluate_csv, evaluate_predictions, write_detections_csv
from woo.formats.json_io import write_json


def make_data(workdir: str, videos: int, keyframes: int, boxes: int, classes: int, seed: int = 0):
    """A 60-class label map, a ground-truth CSV and predictions that partly match it."""
    rng = np.random.default_rng(seed)
    evaluated = np.sort(rng.choice(np.arange(1, classes + 1), size=min(60, classes), replace=False))
    labelmap = os.path.join(workdir, "labelmap.pbtxt")
    with open(labelmap, "w") as f:
        for i in evaluated:
            f.write(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n')
    groundtruth = os.path.join(workdir, "groundtruth.csv")
    predictions = []
    with open(groundtruth, "w") as f:
        for v in range(videos):
            video_id = f"video{v:06d}"
            for t in range(902, 902 + keyframes):
                people = rng.integers(1, 4)
                xy = rng.uniform(0, 0.6, size=(people, 2))
                gt = np.concatenate([xy, xy + rng.uniform(0.1, 0.4, size=(people, 2))], axis=1)
                for p, box in enumerate(gt):
                    for a in rng.choice(np.arange(1, classes + 1), size=rng.integers(1, 4), replace=False):
                        f.write(f"{video_id},{t:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{a},{p}\n")
                pred_boxes = np.concatenate([gt, rng.uniform(0, 1, size=(max(boxes - people, 0), 4))])[:boxes]
                pred_boxes = np.clip(pred_boxes + rng.normal(0, 0.02, size=pred_boxes.shape), 0, 1)
                pred_boxes[:, 2:] = np.maximum(pred_boxes[:, 2:], pred_boxes[:, :2])
                predictions.append({"video_id": video_id, "timestamp": t, "boxes": pred_boxes.astype(np.float32),
                                    "scores": rng.random((boxes, classes), dtype=np.float32)})
    return labelmap, groundtruth, predictions


class _Timer:
    """Wall-clock and CPU seconds of a block; on a loaded machine the CPU time is the one-core figure."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def as_dict(self, name: str):
        return {f"{name}_s": round(self.wall, 2), f"{name}_cpu_s": round(self.cpu, 2)}

    def __str__(self):
        return f"{self.wall:.1f} s ({self.cpu:.1f} s CPU)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--keyframes", type=int, default=897)
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "ava_eval.json"))
    parser.add_argument("--workdir", default=None, help="where the CSVs go (default: a temporary folder)")
    parser.add_argument("--keep-csv", default=None, metavar="PATH",
                        help="keep the detection CSV (and groundtruth.csv, labelmap.pbtxt beside it) here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        labelmap, groundtruth, predictions = make_data(workdir, args.videos, args.keyframes, args.boxes, args.classes)
        with _Timer() as t_memory:
            in_memory = evaluate_predictions(predictions, groundtruth, labelmap)
        detections = os.path.join(workdir, "detections.csv")
        with _Timer() as t_write:
            write_detections_csv(detections, predictions)
        size = os.path.getsize(detections)
        from_csv, t_csv = {}, {}
        for protocol in PROTOCOLS:
            with _Timer() as t_csv[protocol]:
                from_csv.update(evaluate_csv(labelmap, groundtruth, detections, protocol=protocol))
        if args.keep_csv:
            os.makedirs(args.keep_csv, exist_ok=True)
            for path in (labelmap, groundtruth, detections):
                os.replace(path, os.path.join(args.keep_csv, os.path.basename(path)))

    rows = len(predictions) * args.boxes * args.classes
    result = {
        "key_frames": len(predictions), "detection_rows": rows, "csv_bytes": size,
        **t_memory.as_dict("evaluate_predictions"), **t_write.as_dict("write_detections_csv"),
        **{k: v for protocol, t in t_csv.items() for k, v in t.as_dict(f"evaluate_csv_{protocol}").items()},
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "load_average": os.getloadavg(),
        **{f"{name}_in_memory": in_memory[name] for name in ("frame_mAP@0.5", "frame_mAP@0.5_pyslowfast")},
        **{f"{name}_csv": from_csv[name] for name in ("frame_mAP@0.5", "frame_mAP@0.5_pyslowfast")},
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }
    print(f"{len(predictions)} key frames, {rows} detection rows, CSV {size / 1e9:.2f} GB")
    print(f"evaluate_predictions   : {t_memory} (mAP {in_memory['frame_mAP@0.5']:.4f} official, "
          f"{in_memory['frame_mAP@0.5_pyslowfast']:.4f} pyslowfast)")
    print(f"write_detections_csv   : {t_write}")
    for protocol, name in (("official", "frame_mAP@0.5"), ("pyslowfast", "frame_mAP@0.5_pyslowfast")):
        print(f"evaluate_csv {protocol:<10}: {t_csv[protocol]} (mAP {from_csv[name]:.4f})")
    print(f"peak memory {result['peak_rss_gb']} GB, load average {result['load_average']}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
