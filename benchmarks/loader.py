#!/usr/bin/env python
"""Training-loader throughput: clips per second for each number of workers.

Runs on the synthetic set (generated if missing) and, when its frame list is
present, on real AVA frames. Prints one line per run and writes JSON.

    python benchmarks/loader.py --workers 0 1 2 --batches 20
"""
import argparse
import itertools
import os
import platform
import time

from woo.config import get_cfg
from woo.data.build import build_train_loader
from woo.data.catalog import get_split
from woo.formats.json_io import write_json


def measure(cfg, batches: int, warmup: int) -> dict:
    """Clips/s of ``batches`` training batches after ``warmup`` batches (worker start-up)."""
    loader = iter(build_train_loader(cfg))
    for _ in range(warmup):
        next(loader)
    start = time.perf_counter()
    clips = sum(len(batch) for batch in itertools.islice(loader, batches))
    seconds = time.perf_counter() - start
    return {"clips": clips, "seconds": round(seconds, 3), "clips_per_s": round(clips / seconds, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=20, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-frames", type=int, default=8, help="INPUT.NUM_FRAMES")
    parser.add_argument("--sampling-rate", type=int, default=8, help="INPUT.SAMPLING_RATE")
    parser.add_argument("--datasets", nargs="+", default=["woo_synthetic_train", "ava_v2.2_train"],
                        help="splits to time; AVA splits without a frame list are skipped")
    parser.add_argument("--out", default="benchmarks/results/loader.json")
    args = parser.parse_args()

    results = []
    for name in args.datasets:
        if not os.path.isfile(get_split(name).frame_list):
            print(f"{name}: no frame list, skipped")
            continue
        for workers in args.workers:
            cfg = get_cfg()
            cfg.DATASETS.TRAIN = (name,)
            cfg.DATALOADER.NUM_WORKERS = workers
            cfg.SOLVER.IMS_PER_BATCH = args.batch_size
            cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = args.num_frames, args.sampling_rate
            cfg.SEED = 0
            result = {"dataset": name, "workers": workers, **measure(cfg, args.batches, args.warmup)}
            print(f"{name}: {workers} workers: {result['clips_per_s']} clips/s "
                  f"({result['clips']} clips of {args.num_frames}x{args.sampling_rate} in {result['seconds']} s)")
            results.append(result)
    report = {
        "benchmark": "loader",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
