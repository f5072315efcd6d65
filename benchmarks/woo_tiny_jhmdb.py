"""Train WOO_Tiny_JHMDB on the synthetic JHMDB-layout set and report what it reaches.

Runs ``woo train --config-file configs/Synthetic/WOO_Tiny_JHMDB.yaml`` (dataset
generation included when it is missing), then prints the wall time,
frame-mAP@0.5, video-mAP and per-class frame AP and writes them as JSON.

    OMP_NUM_THREADS=1 python benchmarks/woo_tiny_jhmdb.py [--json benchmarks/results/woo_tiny_jhmdb.json] [KEY VALUE ...]
"""
import argparse
import json
import os
import platform
import time

from woo.cli import main as woo_main
from woo.formats.json_io import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "Synthetic", "WOO_Tiny_JHMDB.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results", "woo_tiny_jhmdb.json"))
    parser.add_argument("--output-dir", default="./output/synthetic/WOO_Tiny_JHMDB")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    args = parser.parse_args()
    start = time.perf_counter()
    code = woo_main(["train", "--config-file", CONFIG, "OUTPUT_DIR", args.output_dir, *args.opts])
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"woo train failed with exit code {code}")
    with open(os.path.join(args.output_dir, "metrics.json")) as f:
        metrics = json.load(f)
    result = {
        "config": os.path.relpath(CONFIG, REPO),
        "overrides": args.opts,
        "wall_time_s": round(wall, 1),
        "cpu": platform.processor() or platform.machine(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        **{k: v for k, v in metrics.items() if k != "per_class"},
        "per_class": metrics["per_class"],
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
