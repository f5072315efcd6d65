#!/usr/bin/env python
"""The fast pathway's stem convolution in training (forward, batch norm, backward) on the
CPU: ``nn.Conv3d`` against the 2D form over temporal taps of ``woo.modeling.tap_conv``,
for the synthetic configs' stem (4 output channels) and SlowFast R50's (8). Prints
median (min-max) ms and writes JSON.

    python benchmarks/tap_conv.py --threads 1 [--rounds 7]
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from latency import command_line, median_spread, write_result

from woo.modeling.tap_conv import MAX_TAP_CHANNELS, conv3d_by_temporal_taps

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def time_ms(step, rounds: int) -> list:
    step()  # warm-up: oneDNN chooses and caches its kernels on the first call
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clip", type=int, nargs=5, default=(4, 3, 8, 160, 192), metavar=("N", "C", "T", "H", "W"))
    parser.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results", "tap_conv.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    clip = torch.randn(args.clip, generator=generator)
    rows = []
    print(f"{'out channels':>12}  {'nn.Conv3d ms':>16}  {'2D over taps ms':>16}  used in training")
    for out_channels in (4, 8, 16):
        weight = torch.randn(out_channels, args.clip[1], 5, 7, 7, generator=generator).requires_grad_()
        norm = torch.nn.BatchNorm3d(out_channels)
        forms = {
            "conv3d": lambda: F.conv3d(clip, weight, None, (1, 2, 2), (2, 3, 3)),
            "taps": lambda: conv3d_by_temporal_taps(clip, weight, None, (1, 2, 2), (2, 3, 3)),
        }
        times = {name: time_ms(lambda f=f: norm(f()).sum().backward(), args.rounds) for name, f in forms.items()}
        used = "2D over taps" if out_channels * 5 <= MAX_TAP_CHANNELS else "nn.Conv3d"
        print(f"{out_channels:>12}  {median_spread(times['conv3d']):>16}  {median_spread(times['taps']):>16}  {used}")
        rows.append({"out_channels": out_channels, "used": used,
                     **{f"{name}_ms": statistics.median(t) for name, t in times.items()},
                     **{f"{name}_ms_all": t for name, t in times.items()}})
    write_result(args.json, {"command": command_line(), "threads": args.threads, "clip": list(args.clip),
                             "rows": rows})


if __name__ == "__main__":
    main()
