"""``woo latency``: milliseconds per key frame of a config's WOO model, split into its parts.

WOO runs as every inference path runs it (:func:`optimize_for_inference` from
``MODEL.INFERENCE``, ``torch.inference_mode``, autocast). The model is randomly
initialized: weights do not change the time. ``benchmarks/latency.py`` times the
two-stage pipeline beside it with :func:`measure`.
"""
import argparse
import functools
import statistics
import time
from typing import Callable, Dict, NamedTuple

import torch
from torch import nn

from woo.config import load_config
from woo.formats.json_io import write_json
from woo.modeling import build_model
from woo.modeling.flops import count_flops
from woo.runtime.inference_modes import autocast_context, optimize_for_inference, use_channels_last

__all__ = ["add_arguments", "main", "run", "measure", "prepare_woo", "Subject", "WOO_PARTS", "synchronize"]

# WOO's parts (submodule paths), timed separately; the rest (normalization, padding,
# the final thresholding) is "other".
WOO_PARTS = {"backbone.bottom_up": "backbone", "backbone.fpn": "FPN", "roi_heads.actor_head": "actor head",
             "roi_heads.action_head": "action head"}

def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _PartTimers:
    """Forward hooks that add up the time spent in each module of ``parts`` during the calls
    they are installed for, so a call's split and its total come from the same call."""

    def __init__(self, parts: Dict[str, nn.Module], device: torch.device):
        self.spent = {name: 0.0 for name in parts}
        self._starts: Dict[str, float] = {}
        self._handles = []
        for name, module in parts.items():
            self._handles += [module.register_forward_pre_hook(functools.partial(self._pre, name, device)),
                              module.register_forward_hook(functools.partial(self._post, name, device))]

    def _pre(self, name, device, module, args):
        synchronize(device)
        self._starts[name] = time.perf_counter()

    def _post(self, name, device, module, args, output):
        synchronize(device)
        self.spent[name] += time.perf_counter() - self._starts[name]

    def take(self) -> Dict[str, float]:
        """Seconds per part since the last take, and reset."""
        spent, self.spent = self.spent, {name: 0.0 for name in self.spent}
        return spent

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def example_clips(cfg, height: int, width: int, batch: int, device: torch.device) -> torch.Tensor:
    """(batch, 3, T, H, W) random 0..255 clips, the same for every pipeline."""
    generator = torch.Generator().manual_seed(0)
    clips = torch.rand(batch, 3, cfg.INPUT.NUM_FRAMES, height, width, generator=generator) * 255
    return clips.to(device)


class Subject(NamedTuple):
    """A pipeline ready to time: ``call()`` runs it once on the prepared input."""

    call: Callable[[], object]
    parts: Dict[str, nn.Module]  # timed by forward hooks within the timed calls ({}: no split)
    info: Dict  # reported as is (GFLOPs)


def prepare_woo(cfg, *, height: int, width: int, batch: int, flops: bool) -> Subject:
    """WOO prepared as every inference path prepares it, on ``batch`` random clips."""

    device = torch.device(cfg.MODEL.DEVICE)
    precision = cfg.MODEL.INFERENCE.PRECISION
    model = build_model(cfg)
    gflops = count_flops(model, cfg.INPUT.NUM_FRAMES, height, width)["gflops"] if flops else None
    model = optimize_for_inference(model, cfg, inplace=True)
    clips = example_clips(cfg, height, width, batch, device)
    inputs = [{"clip": clip, "image_size": (height, width)} for clip in clips]

    def call():
        with torch.inference_mode(), autocast_context(precision, device.type):
            return model(inputs)

    # The split needs module hooks, which a compiled graph does not run: no split then.
    parts = {} if cfg.MODEL.INFERENCE.COMPILE else {label: model.get_submodule(name) for name, label in WOO_PARTS.items()}
    return Subject(call, parts, {"gflops": gflops, "precision": precision})


def measure(subjects: Dict[str, Subject], *, device: torch.device, batch: int,
            warmup: int, iters: int) -> Dict[str, Dict]:
    """Time the subjects side by side: each round calls every subject once, so a change
    in the machine's load (other jobs on a shared CPU) falls on all of them alike.

    Each part of a subject is timed by forward hooks inside the same calls as its total,
    so a call's parts and "other" (the rest of the call) add up to that call's time.

    Returns:
        per subject {"ms_per_key_frame" (median), "ms_per_key_frame_min", "calls_s",
        "split_ms" (the parts of the call nearest the median, per key frame; {} without parts),
        "split_calls_ms" (the parts of every call), its info, and on CUDA "peak_memory_mib"}.
    """
    for _ in range(warmup):
        for subject in subjects.values():
            subject.call()
    times = {name: [] for name in subjects}
    splits = {name: [] for name in subjects}
    peak = {name: 0 for name in subjects}
    timers = {name: _PartTimers(subject.parts, device) for name, subject in subjects.items()}
    try:
        for _ in range(iters):
            for name, subject in subjects.items():
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                timers[name].take()
                synchronize(device)
                start = time.perf_counter()
                subject.call()
                synchronize(device)
                total = time.perf_counter() - start
                times[name].append(total)
                if subject.parts:
                    parts = timers[name].take()
                    parts["other"] = max(total - sum(parts.values()), 0.0)
                    splits[name].append({k: 1000 * v / batch for k, v in parts.items()})
                if device.type == "cuda":
                    peak[name] = max(peak[name], torch.cuda.max_memory_allocated(device))
    finally:
        for timer in timers.values():
            timer.remove()
    results = {}
    for name, subject in subjects.items():
        median = statistics.median(times[name])
        nearest = min(range(iters), key=lambda i: abs(times[name][i] - median))
        r = {"ms_per_key_frame": 1000 * median / batch,
             "ms_per_key_frame_min": 1000 * min(times[name]) / batch,
             "calls_s": times[name],
             "split_ms": splits[name][nearest] if splits[name] else {},
             "split_calls_ms": splits[name]}
        r.update(subject.info)
        if device.type == "cuda":
            r["peak_memory_mib"] = peak[name] / 2 ** 20
        results[name] = r
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="WOO YAML config")
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 455), metavar=("H", "W"),
                        help="frame height and width (default 256 455: AVA's 16:9, short side 256)")
    parser.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--iters", type=int, default=3, help="timed calls (default 3; the median counts)")
    parser.add_argument("--no-flops", action="store_true", help="skip the GFLOPs count")
    parser.add_argument("--json", default="", help="also write the result to this JSON file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")


def _check_args(args: argparse.Namespace) -> None:
    for name in ("batch", "iters"):
        if getattr(args, name) < 1:
            raise SystemExit(f"woo latency: --{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        raise SystemExit("woo latency: --warmup must be >= 0")


def run(args: argparse.Namespace) -> Dict:
    """Measure as ``args`` say; returns the result dict (also what --json writes)."""
    _check_args(args)  # threads: woo.cli set them (--threads), as for every command
    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = ""  # weights do not change the time
    cfg.freeze()
    height, width = args.input_size
    common = dict(height=height, width=width, batch=args.batch, flops=not args.no_flops)
    inf = cfg.MODEL.INFERENCE
    subjects = {"woo": prepare_woo(cfg, **common)}
    result = {
        "config": args.config_file, "input_size": [height, width], "num_frames": cfg.INPUT.NUM_FRAMES,
        "batch": args.batch, "device": cfg.MODEL.DEVICE, "threads": torch.get_num_threads(),
        "precision": inf.PRECISION, "fold_bn": inf.FOLD_BN, "channels_last": use_channels_last(cfg),
        "compile": inf.COMPILE, "torch": torch.__version__,
    }
    result.update(measure(subjects, device=torch.device(cfg.MODEL.DEVICE), batch=args.batch,
                          warmup=args.warmup, iters=args.iters))
    return result


def format_result(result: Dict) -> str:
    """The table ``woo latency`` prints."""
    h, w = result["input_size"]
    mode = (f"{result['precision']}, BN folded {result['fold_bn']}, channels-last "
            f"{result['channels_last']}, compile {result['compile']}")
    r = result["woo"]
    gflops = f"{r['gflops']:.3g}" if r["gflops"] is not None else "-"
    threads = result["threads"]
    lines = [f"{result['config']}: {result['num_frames']}x{h}x{w}, batch {result['batch']}, "
             f"{result['device']} ({threads} thread{'s' if threads != 1 else ''}), {mode}",
             "| ms per key frame (median) | best of the calls | GFLOPs |", "|---|---|---|",
             f"| {r['ms_per_key_frame']:.1f} | {r['ms_per_key_frame_min']:.1f} | {gflops} |"]
    if r["split_ms"]:
        lines.append("split of the median call (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["split_ms"].items()))
    else:
        lines.append("no split: a compiled model runs no module hooks")
    if "peak_memory_mib" in r:
        lines.append(f"peak memory {r['peak_memory_mib']:.0f} MiB")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    result = run(args)
    print(format_result(result))
    if args.json:
        write_json(args.json, result)
    return 0
