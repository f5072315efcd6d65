#!/usr/bin/env python
"""WOO beside the two-stage pipeline: ms per key frame in each inference mode, and
the synthetic frame-mAP of each mode (accuracy parity).

Modes: "fp32-plain" (no BN folding, no channels-last: the model as it was),
"fp32" (as shipped: BN folded, channels-last), "bf16" (as shipped, bf16 autocast).
The two-stage pipeline is timed in fp32-plain (as torchvision/pytorchvideo ship
it) and in bf16 with the same treatment as WOO. Prints a table and writes JSON.

    python benchmarks/latency.py                                     # the three AVA v2.2 configs
    python benchmarks/latency.py --configs configs/AVA-v2.2/WOO_SlowFast_R50_8x8.yaml
    python benchmarks/latency.py --tiny-weights output/synthetic/WOO_Tiny/model_final.pth
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from typing import Optional

import torch

from two_stage import prepare_two_stage

from woo.commands.latency import measure, prepare_woo
from woo.config import get_cfg
from woo.formats.json_io import write_json

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
}
# The statistic compared: the best call, least slowed by other jobs on a shared machine.
BEST = "ms_per_key_frame_min"
# A mode that moves synthetic frame-mAP by more than this is not a default.
MAP_TOLERANCE = 0.01

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


def summarize(timings: dict) -> list:
    """The headline ratios per config beside the goals the design aims at, from the best call
    of each pipeline (the one least slowed by other jobs on a shared machine)."""
    lines = []
    for config, modes in timings.items():
        plain, shipped, bf16 = (modes.get(m) for m in ("fp32-plain", "fp32", "bf16"))
        name = os.path.basename(config)
        if plain and shipped:
            ratio = shipped["woo"][BEST] / plain["two_stage"][BEST]
            lines.append(f"{name}: WOO fp32 as shipped / two-stage as shipped = {ratio:.2f} (target <= 0.6)")
        if plain and bf16:
            speedup = plain["woo"][BEST] / bf16["woo"][BEST]
            lines.append(f"{name}: WOO plain fp32 / WOO bf16 = {speedup:.2f}x (target >= 3)")
            lines.append(f"{name}: WOO bf16 / two-stage bf16 = {bf16['ratio_woo_to_two_stage_min']:.2f} "
                         "(target <= 0.7)")
    return lines


def table(timings: dict) -> list:
    """A markdown table, one row per config and mode: best call (median in brackets)."""
    rows = ["| config | mode | WOO ms | two-stage ms | WOO / two-stage | WOO GFLOPs | two-stage GFLOPs "
            "| WOO split: backbone / FPN / actor / action / other ms |", "|---|---|---|---|---|---|---|---|"]
    for config, modes in timings.items():
        for mode, r in modes.items():
            woo, two = r["woo"], r.get("two_stage")
            split = " / ".join(f"{v:.0f}" for v in woo["split_ms"].values())
            rows.append(
                f"| {os.path.basename(config)[:-5]} | {mode} | {woo[BEST]:.0f} ({woo['ms_per_key_frame']:.0f}) | "
                + (f"{two[BEST]:.0f} ({two['ms_per_key_frame']:.0f}) | {r['ratio_woo_to_two_stage_min']:.2f} | "
                   if two else "- | - | ")
                + f"{woo['gflops']:.1f} | " + (f"{two['gflops']:.1f}" if two and two["gflops"] else "-")
                + f" | {split} |")
    return rows


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

    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "input_size": list(args.input_size),
                          "iters": args.iters, "warmup": args.warmup},
              "timings": {}, "frame_map": {}}
    for config in args.configs:
        result["timings"][config] = time_config(config, args)
        for mode, r in result["timings"][config].items():
            two = f", two-stage {r['two_stage'][BEST]:.0f} ms" if "two_stage" in r else ""
            print(f"{config} {mode}: best call WOO {r['woo'][BEST]:.0f} ms{two}", flush=True)
    if not args.skip_accuracy:
        weights = tiny_weights(args.tiny_weights, args.device)
        for mode in args.modes:
            result["frame_map"][mode] = frame_map(weights, mode, args.device)
        base = result["frame_map"].get("fp32-plain")
        if base is not None:
            result["frame_map_ok_as_default"] = {
                m: abs(v - base) <= MAP_TOLERANCE for m, v in result["frame_map"].items()}
    result["targets"] = summarize(result["timings"])
    print("\n".join(table(result["timings"])))
    for mode, value in result["frame_map"].items():
        print(f"WOO_Tiny synthetic val frame-mAP@0.5, {mode}: {value:.4f}")
    print("\n".join(result["targets"]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(args.out, result)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
