#!/usr/bin/env python
"""WOO's ROI heads alone (actor head, action head, the final thresholding) on features of
the backbone's shapes, in each inference mode: ms per key frame and torch.profiler's
op-by-op table. No backbone call, so bf16 heads can be timed where a bf16 backbone
would take minutes (a CPU without bf16 hardware). Prints and writes JSON.

    OMP_NUM_THREADS=1 python benchmarks/heads_profile.py --threads 1
    python benchmarks/heads_profile.py --modes bf16 bf16-heads-bf16 --rows 30
"""
import argparse
import os
import statistics
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from latency import MODES, command_line, median_spread, write_result

from woo.config import get_cfg
from woo.modeling import build_model
from woo.runtime.inference_modes import autocast_context, cpu_has_fast_bf16, optimize_for_inference

# Modes with the heads of interest: fp32-plain and fp32 differ in the backbone only.
HEAD_MODES = ("fp32", "bf16", "bf16-heads-bf16")


def backbone_like_features(model, height: int, width: int, dtype: torch.dtype):
    """Random features of the shapes (the backbone's output contract) and dtype that the
    backbone gives for one clip, and the padded (H, W)."""
    generator = torch.Generator().manual_seed(0)
    div = model.size_divisibility
    h, w = (-(-v // div) * div for v in (height, width))
    frames = {"res5": model.roi_heads.action_head.num_frames, "res5_fast": model.num_frames}
    features = {}
    for name, spec in model.backbone.output_shape().items():
        time_dims = (frames[name],) if name in frames else ()
        shape = (1, spec.channels) + time_dims + (h // spec.stride, w // spec.stride)
        features[name] = torch.randn(shape, generator=generator).to(dtype)
    return features, (h, w)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml")
    parser.add_argument("--modes", nargs="+", default=list(HEAD_MODES), choices=list(MODES))
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 455), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20, help="profiler rows per mode")
    parser.add_argument("--out", default="benchmarks/results/heads_profile.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width = args.input_size
    print(f"# {command_line()}\n# {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, bf16 in hardware: "
          f"{cpu_has_fast_bf16()}, torch {torch.__version__}, {height}x{width}", flush=True)
    prepared = {}
    for mode in args.modes:
        cfg = get_cfg()
        cfg.merge_from_file(args.config)
        cfg.merge_from_list(MODES[mode][0] + ["MODEL.DEVICE", "cpu", "MODEL.VIDEO_RESNET.PRETRAINED", ""])
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        dtype = torch.float32 if cfg.MODEL.INFERENCE.PRECISION == "fp32" else torch.bfloat16
        features, padded = backbone_like_features(model, height, width, dtype)
        model = optimize_for_inference(model, cfg, inplace=True)
        sizes = torch.tensor([[height, width]])

        def call(model=model, features=features, padded=padded, sizes=sizes,
                 precision=cfg.MODEL.INFERENCE.PRECISION):
            with torch.inference_mode(), autocast_context(precision, "cpu"):
                return model.inference(*model.roi_heads(features, sizes, padded), sizes)

        prepared[mode] = call
    for _ in range(args.warmup):
        for call in prepared.values():
            call()
    times = {mode: [] for mode in prepared}
    for _ in range(args.iters):  # alternating rounds: the machine's load falls on every mode alike
        for mode, call in prepared.items():
            start = time.perf_counter()
            call()
            times[mode].append(1000 * (time.perf_counter() - start))
    result = {"command": command_line(), "threads": torch.get_num_threads(),
              "cpu_bf16_hardware": cpu_has_fast_bf16(), "modes": {}}
    for mode, call in prepared.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            call()
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in ops)
        result["modes"][mode] = {
            "ms": times[mode], "ms_median": statistics.median(times[mode]),
            "ops": [{"name": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1000,
                     "share": e.self_cpu_time_total / total} for e in ops[:args.rows]]}
    print("\n| mode | heads ms, median (min-max) |\n|---|---|")
    for mode, r in result["modes"].items():
        print(f"| {mode} | {median_spread(r['ms'])} |")
    for mode, r in result["modes"].items():
        print(f"\n{mode}: top ops by self CPU time (one profiled call)\n| op | calls | ms | share |\n|---|---|---|---|")
        for op in r["ops"]:
            print(f"| {op['name']} | {op['calls']} | {op['self_ms']:.1f} | {100 * op['share']:.1f}% |")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
