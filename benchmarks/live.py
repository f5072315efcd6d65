#!/usr/bin/env python
"""`woo demo` on a live stream: the delay of each key frame and the share of key frames skipped.

Serves benchmarks/demo.py's 426x240 29.97 FPS clip over localhost TCP at its
own pace (MPEG-TS, :class:`woo.inference.stream_server.PacedStreamServer`),
runs the demo on it as on a camera (``--input tcp://...``) with each config's
model (random weights: timing does not depend on them; bf16 unless told) on the
CPU, and on the GPU when there is one. Per run: the delay from each key frame's
arrival to its line in live.jsonl (median, 95th percentile, max), the share
of key frames skipped because the model was behind, the seconds per forward
pass, and the lookahead (how far past a key frame its clip reaches, the part
of the delay no model speed removes). One warm-up pass runs before the stream
starts. Prints one line per run and writes JSON, with the load average seen.

    python benchmarks/live.py
    python benchmarks/live.py --configs configs/Synthetic/WOO_Tiny.yaml --seconds 20 --devices cpu
"""
import argparse
import os
import platform
import tempfile
import time

import torch

from demo import FPS, build_predictor, make_clip

from woo.formats.json_io import write_json
from woo.inference.demo import run_demo
from woo.inference.stream_server import PacedStreamServer

CONFIGS = ["configs/Synthetic/WOO_Tiny.yaml", "configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml"]
WIDTH, HEIGHT = 426, 240


def warm_up(predictor) -> float:
    """One forward pass on a blank clip (first-call costs stay out of the stream); returns its seconds."""
    h, w = predictor.test_size(HEIGHT, WIDTH)
    clip = torch.zeros((1, 3, predictor.num_frames, h, w), dtype=torch.uint8)
    start = time.perf_counter()
    predictor.predict_clips(clip, input_size=(HEIGHT, WIDTH))
    return time.perf_counter() - start


def measure(config_file: str, device: str, video: str, out_dir: str, key_stride: float, opts) -> dict:
    predictor = build_predictor(config_file, "", device, out_dir, key_stride, 1, opts)
    warm = warm_up(predictor)
    model_before = predictor.model_seconds
    load_before = os.getloadavg()
    with PacedStreamServer(video) as server:
        result = run_demo(predictor, server.url, os.path.join(out_dir, f"{os.path.basename(config_file)}_{device}"),
                          show_progress=False)
    live = result["live"]
    scored, skipped = live["scored_key_frames"], len(live["skipped_key_frames"])
    return {
        "config": config_file,
        "device": device,
        "precision": predictor.precision,
        "frames": result["frames"],
        "dropped_frames": live["dropped_frames"],
        "stream_seconds": round(result["video_seconds"], 3),
        "key_frames_scored": scored,
        "key_frames_skipped": skipped,
        "skipped_share": round(skipped / (scored + skipped), 3) if scored + skipped else None,
        "delay_seconds": live["delay_seconds"],
        "lookahead_seconds": live["lookahead_seconds"],
        "seconds_per_forward": round((predictor.model_seconds - model_before) / scored, 3) if scored else None,
        "warm_up_seconds": round(warm, 3),
        "load_average": {"before": [round(v, 2) for v in load_before],
                         "after": [round(v, 2) for v in os.getloadavg()]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the stream")
    parser.add_argument("--key-stride", type=float, default=1.0)
    parser.add_argument("--out", default="benchmarks/results/live.json")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides (default MODEL.INFERENCE.PRECISION bf16)")
    args = parser.parse_args()
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    opts = args.opts or ["MODEL.INFERENCE.PRECISION", "bf16"]

    results = []
    with tempfile.TemporaryDirectory(prefix="woo_live_bench_") as tmp:
        video = os.path.join(tmp, "clip_426x240_29.97.mp4")
        make_clip(video, seconds=args.seconds, width=WIDTH, height=HEIGHT)
        for config_file in args.configs:
            for device in devices:
                r = measure(config_file, device, video, tmp, args.key_stride, opts)
                d = r["delay_seconds"]
                delays = (f"delay median {d['median']:.2f} s, p95 {d['p95']:.2f} s, max {d['max']:.2f} s"
                          if d["median"] is not None else "no key frame scored")
                print(f"{os.path.basename(config_file)} {device} {r['precision']}: {delays}; "
                      f"{r['key_frames_skipped']} of {r['key_frames_scored'] + r['key_frames_skipped']} key frames "
                      f"skipped ({r['skipped_share']}); {r['seconds_per_forward']} s per forward pass, lookahead "
                      f"{r['lookahead_seconds']} s; {r['dropped_frames']} frames dropped; load "
                      f"{r['load_average']['before'][0]} -> {r['load_average']['after'][0]}", flush=True)
                results.append(r)
    report = {
        "benchmark": "live",
        "stream": {"width": WIDTH, "height": HEIGHT, "fps": float(FPS), "seconds": args.seconds,
                   "transport": "MPEG-TS over localhost TCP, real-time pace"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "settings": {"key_stride": args.key_stride, "opts": opts},
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
