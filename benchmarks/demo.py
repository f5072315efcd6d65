#!/usr/bin/env python
"""`woo demo` speed: seconds of video per wall second, split into decoding, model and rendering.

Makes a 10 s 426x240 29.97 FPS clip (moving figures on a textured background),
then runs the demo on it with a config's model (random weights unless
``--weights``; speed does not depend on them) on the CPU, and on the GPU when
there is one. Decoding runs in its own thread, so the parts overlap and their
sum can exceed the wall time. Prints one line per device and writes JSON.

    python benchmarks/demo.py --config-file configs/Synthetic/WOO_Tiny.yaml
"""
import argparse
import os
import platform
import tempfile
from fractions import Fraction

import cv2
import numpy as np
import torch

from woo.config import get_cfg
from woo.formats.json_io import write_json
from woo.inference.demo import run_demo
from woo.inference.predictor import VideoPredictor
from woo.inference.render import H264Writer
from woo.modeling import build_model

FPS = Fraction(30000, 1001)


def make_clip(path: str, seconds: float = 10.0, width: int = 426, height: int = 240, seed: int = 0) -> int:
    """Write the benchmark clip; returns its frame count."""
    rng = np.random.default_rng(seed)
    background = cv2.resize(rng.uniform(60, 190, size=(6, 10, 3)).astype(np.float32), (width, height),
                            interpolation=cv2.INTER_CUBIC).astype(np.uint8)
    figures = [(rng.uniform(40, width - 40), rng.uniform(90, height - 10), rng.uniform(-2, 2),
                tuple(int(c) for c in rng.integers(0, 255, 3))) for _ in range(3)]
    count = int(round(seconds * float(FPS)))
    writer = H264Writer(path, width=width, height=height, fps=FPS)
    for i in range(count):
        image = background.copy()
        for x, foot, speed, color in figures:
            cx = int(x + speed * i) % width
            cv2.rectangle(image, (cx - 10, int(foot) - 50), (cx + 10, int(foot)), color, -1)
            cv2.circle(image, (cx, int(foot) - 58), 8, (235, 195, 160), -1)
        writer.write(image)
    writer.close()
    return count


def build_predictor(config_file: str, weights: str, device: str, out_dir: str, key_stride: float, batch_size: int,
                    opts) -> VideoPredictor:
    """The predictor of ``config_file`` on ``device`` with ``weights``, or random weights (saved in ``out_dir``)."""
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.MODEL.DEVICE = device
    if not weights:
        torch.manual_seed(0)
        weights = os.path.join(out_dir, f"random_{device.replace(':', '')}.pth")
        torch.save({"model": build_model(cfg).state_dict()}, weights)
    cfg.MODEL.WEIGHTS = weights
    return VideoPredictor(cfg, key_stride=key_stride, batch_size=batch_size)


def measure(config_file: str, weights: str, device: str, video: str, out_dir: str, key_stride: float,
            batch_size: int, opts) -> dict:
    predictor = build_predictor(config_file, weights, device, out_dir, key_stride, batch_size, opts)
    result = run_demo(predictor, video, os.path.join(out_dir, device.replace(":", "")), show_progress=False)
    video_s = result["video_seconds"]
    timing = {k: round(result[f"{k}_seconds"], 3) for k in ("wall", "decode", "model", "render")}
    return {
        "device": device,
        "frames": result["frames"],
        "key_frames": result["key_frames"],
        "video_seconds": round(video_s, 3),
        "seconds": timing,
        "video_seconds_per_second": {k: round(video_s / v, 2) if v > 0 else None for k, v in timing.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default="configs/Synthetic/WOO_Tiny.yaml")
    parser.add_argument("--weights", default="", help="checkpoint (default: random weights)")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--key-stride", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/demo.json")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args()
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))

    results = []
    with tempfile.TemporaryDirectory(prefix="woo_demo_bench_") as tmp:
        video = os.path.join(tmp, "clip_426x240_29.97.mp4")
        frames = make_clip(video)
        for device in devices:
            r = measure(args.config_file, args.weights, device, video, tmp, args.key_stride, args.batch_size, args.opts)
            per_s = r["video_seconds_per_second"]
            print(f"{device}: {per_s['wall']} video s per wall s ({r['video_seconds']} s, {frames} frames, "
                  f"{r['key_frames']} key frames in {r['seconds']['wall']} s); alone: decoding {per_s['decode']}, "
                  f"model {per_s['model']}, rendering {per_s['render']} video s per s")
            results.append(r)
    report = {
        "benchmark": "demo",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
