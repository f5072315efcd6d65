"""Train a synthetic config with several seeds and report the spread of what it reaches.

Generates the config's datasets first when they are missing (timed on its own), then
runs ``woo train --config-file CONFIG SEED s OUTPUT_DIR OUT/seed<s>`` for every seed,
``--jobs`` at a time, each in its own process with this environment (set
``OMP_NUM_THREADS``). Prints and writes as JSON each seed's wall time and figures,
and for every figure the median, the spread (max - min) and the largest distance
from the median.

    OMP_NUM_THREADS=1 python benchmarks/synthetic_seeds.py --config configs/Synthetic/WOO_Tiny.yaml \\
        --seeds 0 1 2 [--jobs 2] [--json benchmarks/results/woo_tiny_seeds.json] [KEY VALUE ...]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from woo.config import load_config
from woo.data.catalog import get_split
from woo.formats.json_io import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _figures(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, float) and k != "wall_time_s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "Synthetic", "WOO_Tiny.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once")
    parser.add_argument("--output-dir", default=None, help="default: the config's OUTPUT_DIR + _seeds")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/<config>_seeds.json")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE pairs")
    args = parser.parse_args()
    cfg = load_config(args.config, args.opts)
    name = os.path.splitext(os.path.basename(args.config))[0]
    out_root = args.output_dir or cfg.OUTPUT_DIR.rstrip("/") + "_seeds"
    json_path = args.json or os.path.join(REPO, "benchmarks", "results", f"{name.lower()}_seeds.json")

    start = time.perf_counter()
    for split in (*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST):
        get_split(split)  # generates a missing synthetic set, once, before the trainings share it
    generation = time.perf_counter() - start

    pending, running, runs = list(args.seeds), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            out = os.path.join(out_root, f"seed{seed}")
            command = [sys.executable, "-m", "woo.cli", "train", "--config-file", args.config,
                       *args.opts, "SEED", str(seed), "OUTPUT_DIR", out]
            running[seed] = (subprocess.Popen(command, stdout=subprocess.DEVNULL), time.perf_counter(), out)
            print(f"seed {seed}: started ({' '.join(command[1:])})", flush=True)
        time.sleep(1.0)
        for seed, (process, started, out) in list(running.items()):
            if process.poll() is None:
                continue
            del running[seed]
            if process.returncode != 0:
                raise SystemExit(f"seed {seed}: woo train failed with exit code {process.returncode} (see {out}/log.txt)")
            with open(os.path.join(out, "metrics.json")) as f:
                metrics = json.load(f)
            runs[seed] = {"wall_time_s": round(time.perf_counter() - started, 1), **metrics}
            print(f"seed {seed}: {runs[seed]['wall_time_s']} s, {_figures(metrics)}", flush=True)

    figures = sorted(set.intersection(*(set(_figures(r)) for r in runs.values())))
    summary = {}
    for key in figures:
        values = [runs[s][key] for s in args.seeds]
        median = statistics.median(values)
        summary[key] = {"median": median, "min": min(values), "max": max(values), "spread": max(values) - min(values),
                        "max_from_median": max(abs(v - median) for v in values)}
    result = {
        "config": os.path.relpath(os.path.abspath(args.config), REPO),
        "overrides": args.opts,
        "seeds": args.seeds,
        "jobs": args.jobs,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "dataset_generation_s": round(generation, 1),
        "summary": summary,
        "runs": {str(s): runs[s] for s in args.seeds},
    }
    for key, value in summary.items():
        print(f"{key}: median {value['median']:.4f}, {value['min']:.4f} .. {value['max']:.4f}, "
              f"at most {value['max_from_median']:.4f} from the median")
    write_json(json_path, result)
    print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
