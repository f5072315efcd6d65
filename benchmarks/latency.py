#!/usr/bin/env python
"""WOO beside the two-stage pipeline: ms per key frame in each inference mode, split into
WOO's parts, and the synthetic frame-mAP of each mode (accuracy parity).

Modes: "fp32-plain" (no BN folding, no channels-last: the model as it was),
"fp32" (as shipped: BN folded), "bf16" (as shipped: bf16 autocast, BN folded,
channels-last, ROI heads in fp32) and "bf16-heads-bf16" (the heads in bf16 too,
``MODEL.INFERENCE.HEADS_PRECISION same``). The two-stage pipeline is timed in
fp32-plain (as torchvision/pytorchvideo ship it) and in bf16 with the same treatment
as WOO. Prints, with the command in the header, one table per config: each mode's
total and parts (median over the timed calls, min-max in brackets; the parts are
timed inside the same calls as the total), then the side by side with the two-stage
pipeline and the targets. Writes JSON.

    OMP_NUM_THREADS=2 python benchmarks/latency.py --threads 2   # the three AVA v2.2 configs
    python benchmarks/latency.py --configs configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml --skip-accuracy
    python benchmarks/latency.py --tiny-weights output/synthetic/WOO_Tiny/model_final.pth
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from typing import List, Optional

import torch

from two_stage import prepare_two_stage

from woo.commands.latency import measure, prepare_woo
from woo.config import get_cfg
from woo.formats.json_io import write_json
from woo.runtime.inference_modes import cpu_has_fast_bf16

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVA_CONFIGS = [f"configs/AVA-v2.2/{name}.yaml" for name in
               ("WOO_SlowOnly_R50_4x16", "WOO_SlowFast_R50_8x8", "WOO_SlowFast_R101_8x8")]
TINY = "configs/Synthetic/WOO_Tiny.yaml"
# mode -> (config overrides, whether the two-stage pipeline is timed in it)
MODES = {
    "fp32-plain": (["MODEL.INFERENCE.PRECISION", "fp32", "MODEL.INFERENCE.FOLD_BN", "False",
                    "MODEL.INFERENCE.CHANNELS_LAST", "off"], True),
    "fp32": (["MODEL.INFERENCE.PRECISION", "fp32"], False),
    "bf16": (["MODEL.INFERENCE.PRECISION", "bf16"], True),
    "bf16-heads-bf16": (["MODEL.INFERENCE.PRECISION", "bf16", "MODEL.INFERENCE.HEADS_PRECISION", "same"], False),
}
# The statistic compared: the median call.
MEDIAN = "ms_per_key_frame"
# A mode that moves synthetic frame-mAP by more than this is not a default.
MAP_TOLERANCE = 0.0002
# Targets: bf16 at least this much faster than plain fp32; its heads and glue (all but
# the backbone) at most this many ms; WOO at most this share of the two-stage pipeline
# with the same treatment.
BF16_SPEEDUP = 3.5
BF16_HEADS_MS = 150.0
BF16_TWO_STAGE_RATIO = 0.5

# Dense tensor-core peak TFLOP/s (fp32 column: TF32 where the GPU has it) by device name,
# for the share of peak reached on CUDA; a GPU not listed reports none.
_GPU_PEAK_TFLOPS = {
    "H200": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "A100": {"fp32": 156.0, "bf16": 312.0, "fp16": 312.0},
}


def peak_share(gflops: Optional[float], seconds: float, precision: str,
               device: torch.device) -> Optional[float]:
    """Share of the GPU's peak FLOP/s reached (one multiply-add = two FLOPs), or None."""
    if device.type != "cuda" or gflops is None:
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in _GPU_PEAK_TFLOPS.items():
        if key in name:
            return 2 * gflops * 1e9 / seconds / (peaks[precision] * 1e12)
    return None


def time_config(config: str, args) -> dict:
    """Every mode of ``config`` built in this process and timed in alternating rounds
    (one call of each pipeline per round), so the modes share the machine's load alike.

    Returns:
        {mode: {"woo": ..., "two_stage": ... (modes that time it), "ratio_woo_to_two_stage",
        "ratio_woo_to_two_stage_min"}}.
    """
    height, width = args.input_size
    subjects = {}
    for i, mode in enumerate(args.modes):
        cfg = get_cfg()
        cfg.merge_from_file(config)
        cfg.merge_from_list(MODES[mode][0] + ["MODEL.DEVICE", args.device,
                                              "MODEL.VIDEO_RESNET.PRETRAINED", ""])
        cfg.freeze()
        # GFLOPs do not depend on the mode: counted once.
        common = dict(height=height, width=width, batch=args.batch, flops=i == 0)
        subjects[("woo", mode)] = prepare_woo(cfg, **common)
        if MODES[mode][1]:
            subjects[("two_stage", mode)] = prepare_two_stage(cfg, num_boxes=args.num_boxes,
                                                              detector_min_size=args.detector_min_size, **common)
    measured = measure(subjects, device=torch.device(args.device), batch=args.batch,
                       warmup=args.warmup, iters=args.iters)
    first = {}
    for (kind, mode), r in measured.items():
        r["peak_flops_share"] = peak_share(r["gflops"], r["ms_per_key_frame"] / 1000, r["precision"],
                                           torch.device(args.device))
        first.setdefault(kind, r)
        for key in ("gflops", "split_gflops"):
            if key in r and r[key] is None:
                r[key] = first[kind][key]
    result = {}
    for mode in args.modes:
        r = {kind: measured[(kind, m)] for kind, m in measured if m == mode}
        if "two_stage" in r:
            for stat in ("ms_per_key_frame", "ms_per_key_frame_min"):
                r["ratio_woo_to_two_stage" + stat[len("ms_per_key_frame"):]] = (
                    r["woo"][stat] / r["two_stage"][stat])
        result[mode] = r
    return result


def frame_map(weights: str, mode: str, device: str) -> float:
    """Synthetic val frame-mAP@0.5 of the WOO_Tiny ``weights`` evaluated in ``mode``."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "woo.cli", "train", "--config-file", TINY, "--eval-only",
               "MODEL.WEIGHTS", weights, "MODEL.DEVICE", device, "OUTPUT_DIR", out] + MODES[mode][0]
        subprocess.run(cmd, check=True, cwd=REPO)
        with open(os.path.join(out, "metrics.json")) as f:
            return json.load(f)["frame_mAP@0.5"]


def tiny_weights(path: str, device: str) -> str:
    """``path`` if it exists, else train WOO_Tiny (about 7 minutes on 2 cores) into it."""
    if os.path.isfile(path):
        return path
    out = os.path.dirname(path)
    subprocess.run([sys.executable, "-m", "woo.cli", "train", "--config-file", TINY,
                    "MODEL.DEVICE", device, "OUTPUT_DIR", out], check=True, cwd=REPO)
    return os.path.join(out, "model_final.pth")


def split_calls(woo: dict) -> List[dict]:
    """The parts of every timed call ({part: ms}); one call where only that was kept."""
    return woo.get("split_calls_ms") or [woo["split_ms"]]


def median_spread(values: List[float]) -> str:
    """"median (min-max)" in ms; the median alone for one value."""
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def heads_ms(woo: dict) -> float:
    """Median over the calls of everything but the backbone: FPN, heads and glue."""
    return statistics.median(sum(v for k, v in call.items() if k != "backbone") for call in split_calls(woo))


def summarize(timings: dict, frame_map: dict) -> list:
    """The targets per config, from the median calls."""
    lines = []
    for config, modes in timings.items():
        plain, bf16 = modes.get("fp32-plain"), modes.get("bf16")
        name = os.path.basename(config)
        if plain and bf16:
            speedup = plain["woo"][MEDIAN] / bf16["woo"][MEDIAN]
            lines.append(f"{name}: WOO plain fp32 / WOO bf16 = {speedup:.2f}x (target >= {BF16_SPEEDUP})")
        if bf16:
            lines.append(f"{name}: WOO bf16 heads and glue (all but the backbone) = {heads_ms(bf16['woo']):.0f} ms "
                         f"(target <= {BF16_HEADS_MS:.0f})")
            if "ratio_woo_to_two_stage" in bf16:
                lines.append(f"{name}: WOO bf16 / two-stage bf16 = {bf16['ratio_woo_to_two_stage']:.2f} "
                             f"(target <= {BF16_TWO_STAGE_RATIO})")
    base = frame_map.get("fp32-plain")
    for mode, value in frame_map.items():
        if base is not None and mode != "fp32-plain":
            lines.append(f"WOO_Tiny frame-mAP {mode} - fp32-plain = {value - base:+.4f} "
                         f"(target within {MAP_TOLERANCE})")
    return lines


def table(timings: dict) -> list:
    """Markdown tables: per config, each mode's total and parts, median (min-max) over the
    calls; then WOO beside the two-stage pipeline."""
    rows = []
    for config, modes in timings.items():
        parts = list(split_calls(next(iter(modes.values()))["woo"])[0])
        rows += ["", f"{os.path.basename(config)[:-5]}: ms per key frame, median (min-max) of the calls",
                 "| mode | total | " + " | ".join(parts) + " | all but the backbone |",
                 "|---" * (len(parts) + 3) + "|"]
        for mode, r in modes.items():
            calls = split_calls(r["woo"])
            totals = [1000 * t for t in r["woo"]["calls_s"]]
            rest = [sum(v for k, v in c.items() if k != "backbone") for c in calls]
            rows.append(f"| {mode} | {median_spread(totals)} | "
                        + " | ".join(median_spread([c[p] for c in calls]) for p in parts)
                        + f" | {median_spread(rest)} |")
        rows += ["", "| mode | WOO ms | two-stage ms | WOO / two-stage | WOO GFLOPs | two-stage GFLOPs |",
                 "|---|---|---|---|---|---|"]
        for mode, r in modes.items():
            woo, two = r["woo"], r.get("two_stage")
            if two:
                rows.append(f"| {mode} | {median_spread([1000 * t for t in woo['calls_s']])} | "
                            f"{median_spread([1000 * t for t in two['calls_s']])} | "
                            f"{r['ratio_woo_to_two_stage']:.2f} | {woo['gflops']:.1f} | "
                            + (f"{two['gflops']:.1f} |" if two["gflops"] else "- |"))
    return rows


def write_result(path: str, result: dict) -> None:
    """Write ``result`` as JSON to ``path`` (its folder made if missing) and say so."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, result)
    print(f"Wrote {path}")


def command_line() -> str:
    """This run's command, with the thread variables that change its timings."""
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ)
    return (env + " " if env else "") + "python " + " ".join(shlex.quote(a) for a in sys.argv)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=AVA_CONFIGS, help="none: accuracy only")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 455), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    parser.add_argument("--num-boxes", type=int, default=5, help="K of the two-stage pipeline")
    parser.add_argument("--detector-min-size", type=int, default=800,
                        help="two-stage detector's input short side (800: torchvision's; 0: the input size)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny-weights", default="output/synthetic/WOO_Tiny/model_final.pth",
                        help="WOO_Tiny checkpoint for accuracy parity (trained here if missing)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/latency.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"command": command_line(),
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                          "cpu_bf16_hardware": cpu_has_fast_bf16(), "load_average_1min_at_start": load,
                          "torch": torch.__version__, "input_size": list(args.input_size),
                          "iters": args.iters, "warmup": args.warmup},
              "timings": {}, "frame_map": {}}
    m = result["machine"]
    header = (f"# {result['command']}\n# {m['processor'] or m['platform']}, {m['cpu_count']} CPUs, "
              f"{m['threads']} threads, bf16 in hardware: {m['cpu_bf16_hardware']}, load {load}, "
              f"torch {m['torch']}, {args.input_size[0]}x{args.input_size[1]}, batch {args.batch}, "
              f"{args.warmup} warm-up + {args.iters} timed calls per mode")
    print(header, flush=True)
    for config in args.configs:
        result["timings"][config] = time_config(config, args)
        for mode, r in result["timings"][config].items():
            two = f", two-stage {r['two_stage'][MEDIAN]:.0f} ms" if "two_stage" in r else ""
            print(f"{config} {mode}: median call WOO {r['woo'][MEDIAN]:.0f} ms{two}", flush=True)
    if not args.skip_accuracy:
        weights = tiny_weights(args.tiny_weights, args.device)
        for mode in args.modes:
            result["frame_map"][mode] = frame_map(weights, mode, args.device)
        base = result["frame_map"].get("fp32-plain")
        if base is not None:
            result["frame_map_ok_as_default"] = {
                m: abs(v - base) <= MAP_TOLERANCE for m, v in result["frame_map"].items()}
    result["targets"] = summarize(result["timings"], result["frame_map"])
    print(header)
    print("\n".join(table(result["timings"])))
    for mode, value in result["frame_map"].items():
        print(f"WOO_Tiny synthetic val frame-mAP@0.5, {mode}: {value:.4f}")
    print("\n".join(result["targets"]))
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
