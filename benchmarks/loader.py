#!/usr/bin/env python
"""Training-loader throughput: clips per second for each number of workers.

Runs on the synthetic set (generated if missing), when its frame list is present on real
AVA frames, and with ``--hd`` on 720p JPEG frames (AVA's most common size) with SlowFast
8x8's clips (32 frames at stride 2, short side 256..320), decoded at reduced size (the
mapper's default) and in full (as before), one after the other. Prints one line per run
and writes JSON.

    python benchmarks/loader.py --workers 0 1 2 --batches 20
    python benchmarks/loader.py --hd --workers 1 --datasets   # only the 720p case, one worker
"""
import argparse
import contextlib
import itertools
import os
import platform
import tempfile
import time

import cv2
import numpy as np

import woo.data.mapper as mapper_module
from woo.config import get_cfg
from woo.data.build import build_train_loader
from woo.data.catalog import get_split
from woo.data.records import RecordsBuilder
from woo.formats.frame_list import FramePaths
from woo.formats.json_io import write_json


def measure(cfg, batches: int, warmup: int, records=None) -> dict:
    """Clips/s of ``batches`` training batches after ``warmup`` batches (worker start-up)."""
    loader = iter(build_train_loader(cfg, records=records))
    for _ in range(warmup):
        next(loader)
    start = time.perf_counter()
    clips = sum(len(batch) for batch in itertools.islice(loader, batches))
    seconds = time.perf_counter() - start
    return {"clips": clips, "seconds": round(seconds, 3), "clips_per_s": round(clips / seconds, 2)}


def hd_records(folder: str, num_frames: int, seed: int = 0):
    """One video of ``num_frames`` 1280x720 JPEG frames (gradients, edges, noise; quality 90, about
    the size of AVA's extracted frames) with a key frame every 8 frames, two boxes each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:720, 0:1280]
    for i in range(num_frames):
        frame = np.stack([(xx / 5 + 3 * i) % 256, (yy / 3 + i) % 256, (xx + yy) / 8 % 256], axis=-1)
        frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(os.path.join(folder, f"hd_{i + 1:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    builder = RecordsBuilder(80)
    frames = FramePaths(folder, num_frames, pattern="hd_{:06d}.jpg", first=1)
    actions = np.zeros((2, 80), np.float32)
    actions[:, 11] = 1
    for key in range(0, num_frames, 8):
        builder.add(video_id="hd", frame_paths=frames, height=720, width=1280, timestamp=key, key_frame_index=key,
                    boxes=np.array([[0.1, 0.2, 0.4, 0.9], [0.5, 0.1, 0.8, 0.95]]), actions=actions)
    return builder.build()


@contextlib.contextmanager
def full_decode():
    """Frames decoded at their full size, as before reduced decoding."""
    reduction = mapper_module.decode_reduction
    mapper_module.decode_reduction = lambda *args: 1
    try:
        yield
    finally:
        mapper_module.decode_reduction = reduction


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=20, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches per run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-frames", type=int, default=8, help="INPUT.NUM_FRAMES")
    parser.add_argument("--sampling-rate", type=int, default=8, help="INPUT.SAMPLING_RATE")
    parser.add_argument("--datasets", nargs="*", default=["woo_synthetic_train", "ava_v2.2_train"],
                        help="splits to time; AVA splits without a frame list are skipped")
    parser.add_argument("--hd", action="store_true", help="also time 720p frames with SlowFast 8x8 clips, "
                        "decoded at reduced and at full size")
    parser.add_argument("--hd-frames", type=int, default=96, help="720p frames written for --hd")
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
            cfg.MODEL.WOO.NUM_ACTIONS = get_split(name).num_actions
            cfg.DATALOADER.NUM_WORKERS = workers
            cfg.SOLVER.IMS_PER_BATCH = args.batch_size
            cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = args.num_frames, args.sampling_rate
            cfg.SEED = 0
            result = {"dataset": name, "workers": workers, **measure(cfg, args.batches, args.warmup)}
            print(f"{name}: {workers} workers: {result['clips_per_s']} clips/s "
                  f"({result['clips']} clips of {args.num_frames}x{args.sampling_rate} in {result['seconds']} s)")
            results.append(result)
    if args.hd:
        with tempfile.TemporaryDirectory(prefix="woo_loader_hd_") as folder:
            records = hd_records(folder, args.hd_frames)
            frame_kb = np.mean([os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]) / 1024
            print(f"720p frames: {args.hd_frames}, {frame_kb:.0f} KB each")
            speeds = {}
            for workers in args.workers:
                for decode in ("reduced", "full"):
                    cfg = get_cfg()
                    cfg.MODEL.WOO.NUM_ACTIONS = records.num_actions
                    cfg.DATALOADER.NUM_WORKERS = workers
                    cfg.SOLVER.IMS_PER_BATCH = args.batch_size
                    cfg.INPUT.NUM_FRAMES, cfg.INPUT.SAMPLING_RATE = 32, 2
                    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = (256, 320), "range"
                    cfg.SEED = 0
                    with full_decode() if decode == "full" else contextlib.nullcontext():
                        result = measure(cfg, args.batches, args.warmup, records)
                    result = {"dataset": "720p", "decode": decode, "workers": workers, "frame_kb": round(frame_kb),
                              **result}
                    speeds[(workers, decode)] = result["clips_per_s"]
                    print(f"720p, SlowFast 8x8 clips, {decode} decode: {workers} workers: {result['clips_per_s']} "
                          f"clips/s ({result['clips']} clips in {result['seconds']} s)")
                    results.append(result)
                print(f"720p, {workers} workers: reduced decode {speeds[(workers, 'reduced')] / speeds[(workers, 'full')]:.2f}x "
                      "the clips/s of full decode")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    report = {
        "benchmark": "loader",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg": load},
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
