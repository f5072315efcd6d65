#!/usr/bin/env python
"""The cost columns of MODEL_ZOO.md: `woo latency` on every config, one way for all.

Each config runs in its own process (`python -m woo.cli latency`) on `--device`
(default the CPU), fp32 as shipped
(BN folded), batch 1, at the size the config tests its dataset's frames at
(`woo.inference.export.default_input_size`: 256x455 for AVA, 256x341 for JHMDB-21 and
UCF101-24, 120x160 for the synthetic sets), with `--threads` intra-op threads and
OMP_NUM_THREADS set to the same. Prints the markdown table MODEL_ZOO.md holds and writes
every call's time to benchmarks/results/model_zoo.json.

    OMP_NUM_THREADS=1 python benchmarks/model_zoo.py --threads 1
    python benchmarks/model_zoo.py --configs configs/Synthetic/WOO_Tiny.yaml --iters 5
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile

import torch

from woo.config import load_config
from woo.formats.json_io import write_json
from woo.inference.export import default_input_size

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "configs", "*", "*.yaml")))


def time_config(config: str, args) -> dict:
    """`woo latency` on ``config`` in a fresh process; its JSON result."""
    height, width = default_input_size(load_config(os.path.join(REPO, config), []))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "latency.json")
        command = [sys.executable, "-m", "woo.cli", "latency", "--config-file", config,
                   "--input-size", str(height), str(width), "--threads", str(args.threads),
                   "--warmup", str(args.warmup), "--iters", str(args.iters), "--json", out,
                   "MODEL.DEVICE", args.device]
        subprocess.run(command, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def table(results: dict) -> list:
    rows = ["| config | input | GFLOPs | ms per clip, median (best) |", "|---|---|---|---|"]
    for config, r in results.items():
        woo = r["woo"]
        h, w = r["input_size"]
        rows.append(f"| {config[len('configs/'):-len('.yaml')]} | {r['num_frames']}x{h}x{w} | {woo['gflops']:.3g} | "
                    f"{woo['ms_per_key_frame']:.0f} ({woo['ms_per_key_frame_min']:.0f}) |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS, help="default: every config under configs/")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads, also OMP_NUM_THREADS (default 1)")
    parser.add_argument("--device", default="cpu", help="MODEL.DEVICE (default cpu)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "model_zoo.json"))
    args = parser.parse_args()
    results = {}
    for config in args.configs:
        results[config] = time_config(config, args)
        print(table({config: results[config]})[-1], flush=True)
    print("\n".join(table(results)))
    write_json(args.out, {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                          "torch": torch.__version__, "threads": args.threads, "warmup": args.warmup,
                          "iters": args.iters, "results": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
