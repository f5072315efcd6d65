"""``woo latency``: milliseconds per key frame of WOO, and of the two-stage pipeline
beside it in the same process, on the same input, precision and memory format.

WOO runs as every inference path runs it (:func:`optimize_for_inference` from
``MODEL.INFERENCE``, ``torch.inference_mode``, autocast); the two-stage
pipeline (:class:`woo.inference.two_stage.TwoStagePipeline`) gets the same
treatment: BN folding, channels-last and precision follow the same keys.
Models are randomly initialized: weights do not change the time.
"""
import argparse
import statistics
import time
from typing import Callable, Dict, NamedTuple, Optional

import torch
from torch import nn

from woo.utils.json_io import write_json

from .optimize import (autocast_context, fold_batch_norms, optimize_for_inference, to_channels_last,
                       use_channels_last)
from .two_stage import DETECTOR_MIN_SIZE

__all__ = ["add_arguments", "main", "run", "measure", "prepare_woo", "prepare_two_stage", "WOO_PARTS"]

# WOO's parts (submodule paths), timed separately; the rest (normalization, padding,
# the final thresholding) is "other".
WOO_PARTS = {"backbone.bottom_up": "backbone", "backbone.fpn": "FPN", "roi_heads.actor_head": "actor head",
             "roi_heads.action_head": "action head"}

# Dense tensor-core peak TFLOP/s (fp32 column: TF32 where the GPU has it) by device name,
# for the share of peak reached on CUDA; a GPU not listed reports none.
_GPU_PEAK_TFLOPS = {
    "H200": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "A100": {"fp32": 156.0, "bf16": 312.0, "fp16": 312.0},
}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_parts(parts: Dict[str, nn.Module], call: Callable[[], object],
                device: torch.device) -> Dict[str, float]:
    """Milliseconds spent in each module of ``parts`` during one ``call()`` (forward hooks),
    and in the rest ("other")."""
    spent = {name: 0.0 for name in parts}
    starts = {}
    handles = []
    for name, module in parts.items():
        def pre(module, args, name=name):
            _synchronize(device)
            starts[name] = time.perf_counter()

        def post(module, args, output, name=name):
            _synchronize(device)
            spent[name] += time.perf_counter() - starts[name]

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        _synchronize(device)
        start = time.perf_counter()
        call()
        _synchronize(device)
        total = time.perf_counter() - start
    finally:
        for handle in handles:
            handle.remove()
    spent["other"] = max(total - sum(spent.values()), 0.0)
    return {name: 1000 * seconds for name, seconds in spent.items()}


def _example_clips(cfg, height: int, width: int, batch: int, device: torch.device) -> torch.Tensor:
    """(batch, 3, T, H, W) random 0..255 clips, the same for every pipeline."""
    generator = torch.Generator().manual_seed(0)
    clips = torch.rand(batch, 3, cfg.INPUT.NUM_FRAMES, height, width, generator=generator) * 255
    return clips.to(device)


def _peak_share(gflops: Optional[float], seconds: float, precision: str,
                device: torch.device) -> Optional[float]:
    """Share of the GPU's peak FLOP/s reached (one multiply-add = two FLOPs), or None."""
    if device.type != "cuda" or gflops is None:
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in _GPU_PEAK_TFLOPS.items():
        if key in name:
            return 2 * gflops * 1e9 / seconds / (peaks[precision] * 1e12)
    return None


class _Subject(NamedTuple):
    """A pipeline ready to time: ``call()`` runs it once on the prepared input."""

    call: Callable[[], object]
    parts: Dict[str, nn.Module]  # timed separately by forward hooks
    info: Dict  # reported as is (GFLOPs)


def prepare_woo(cfg, *, height: int, width: int, batch: int, flops: bool) -> _Subject:
    """WOO prepared as every inference path prepares it, on ``batch`` random clips."""
    from woo.modeling import build_model
    from woo.modeling.flops import count_flops

    device = torch.device(cfg.MODEL.DEVICE)
    precision = cfg.MODEL.INFERENCE.PRECISION
    model = build_model(cfg)
    gflops = count_flops(model, cfg.INPUT.NUM_FRAMES, height, width)["gflops"] if flops else None
    model = optimize_for_inference(model, cfg, inplace=True)
    clips = _example_clips(cfg, height, width, batch, device)
    inputs = [{"clip": clip, "image_size": (height, width)} for clip in clips]

    def call():
        with torch.inference_mode(), autocast_context(precision, device.type):
            return model(inputs)

    # The split needs module hooks, which a compiled graph does not run.
    plain = getattr(model, "_orig_mod", model)
    parts = {label: plain.get_submodule(name) for name, label in WOO_PARTS.items()}
    return _Subject(call, parts, {"gflops": gflops, "precision": precision})


class _DetectorToTensors(nn.Module):
    """Tensor-in, tensors-out view of a torchvision detector, as tracing needs."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor):
        det = self.detector([image])[0]
        return det["boxes"], det["scores"], det["labels"]


def _two_stage_gflops(pipeline: nn.Module, clip: torch.Tensor) -> Dict[str, float]:
    """GFLOPs (fvcore) of the detector on the key frame and of the action model on the
    clip with K boxes."""
    from woo.modeling.flops import flop_analysis

    t, h, w = clip.shape[1:]
    detector = flop_analysis(_DetectorToTensors(pipeline.detector), (clip[:, t // 2] / 255,))
    normalized = (clip[None] - pipeline.pixel_mean) / pipeline.pixel_std
    inputs = [normalized[:, :, :: pipeline.alpha], normalized] if pipeline.alpha else normalized
    rois = torch.cat([torch.zeros(pipeline.num_boxes, 1),
                      torch.tensor([[0.0, 0.0, w, h]]).expand(pipeline.num_boxes, 4)], dim=1)
    action = flop_analysis(pipeline.action_model, (inputs, rois))
    with torch.no_grad():
        return {"detector": detector.total() / 1e9, "action model": action.total() / 1e9}


def prepare_two_stage(cfg, *, height: int, width: int, batch: int, flops: bool,
                      num_boxes: int, detector_min_size: int = DETECTOR_MIN_SIZE) -> _Subject:
    """The two-stage pipeline with WOO's ``cfg.MODEL.INFERENCE`` treatment (precision,
    BN folding, channels-last, weights in the autocast dtype; not torch.compile)."""
    from .optimize import cast_autocast_weights
    from .two_stage import TwoStagePipeline

    device = torch.device(cfg.MODEL.DEVICE)
    inf = cfg.MODEL.INFERENCE
    torch.manual_seed(0)
    pipeline = TwoStagePipeline(**TwoStagePipeline.from_config(
        cfg, image_size=(height, width), num_boxes=num_boxes,
        detector_min_size=detector_min_size)).eval()
    clips = _example_clips(cfg, height, width, batch, device)
    split_flops = _two_stage_gflops(pipeline, clips[0].cpu()) if flops else None  # on the CPU
    pipeline.to(device)
    for p in pipeline.parameters():
        p.requires_grad_(False)
    if inf.FOLD_BN:
        fold_batch_norms(pipeline)
    if use_channels_last(cfg):
        to_channels_last(pipeline, pipeline.input_modules)
    cast_autocast_weights(pipeline, inf.PRECISION)

    def call():
        with torch.inference_mode(), autocast_context(inf.PRECISION, device.type):
            return pipeline(clips)

    parts = {"detector": pipeline.detector, "action model": pipeline.action_model}
    info = {"gflops": sum(split_flops.values()) if split_flops else None,
            "split_gflops": split_flops, "num_boxes": num_boxes, "precision": inf.PRECISION,
            "detector_min_size": detector_min_size}
    return _Subject(call, parts, info)


def measure(subjects: Dict[str, _Subject], *, device: torch.device, batch: int,
            warmup: int, iters: int) -> Dict[str, Dict]:
    """Time the subjects side by side: each round calls every subject once, so a change
    in the machine's load (other jobs on a shared CPU) falls on all of them alike.

    Returns:
        per subject {"ms_per_key_frame" (median), "ms_per_key_frame_min", "calls_s",
        "split_ms" (one more call, per key frame), its info, and on CUDA
        "peak_memory_mib" and "peak_flops_share"}.
    """
    for _ in range(warmup):
        for subject in subjects.values():
            subject.call()
    times = {name: [] for name in subjects}
    peak = {name: 0 for name in subjects}
    for _ in range(iters):
        for name, subject in subjects.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            _synchronize(device)
            start = time.perf_counter()
            subject.call()
            _synchronize(device)
            times[name].append(time.perf_counter() - start)
            if device.type == "cuda":
                peak[name] = max(peak[name], torch.cuda.max_memory_allocated(device))
    results = {}
    for name, subject in subjects.items():
        r = {"ms_per_key_frame": 1000 * statistics.median(times[name]) / batch,
             "ms_per_key_frame_min": 1000 * min(times[name]) / batch,
             "calls_s": times[name]}
        parts = _time_parts(subject.parts, subject.call, device)
        r["split_ms"] = {k: v / batch for k, v in parts.items()}
        r.update(subject.info)
        if device.type == "cuda":
            r["peak_memory_mib"] = peak[name] / 2 ** 20
            r["peak_flops_share"] = _peak_share(r["gflops"], r["ms_per_key_frame"] / 1000,
                                                r["precision"], device)
        results[name] = r
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="WOO YAML config")
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 455), metavar=("H", "W"),
                        help="frame height and width (default 256 455: AVA's 16:9, short side 256)")
    parser.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (default 0: PyTorch's default)")
    parser.add_argument("--two-stage", action="store_true",
                        help="also time the two-stage pipeline (detector + action model)")
    parser.add_argument("--num-boxes", type=int, default=5, help="K person boxes of the two-stage "
                        "pipeline's action model (default 5)")
    parser.add_argument("--detector-min-size", type=int, default=DETECTOR_MIN_SIZE,
                        help="short side the two-stage detector resizes the key frame to "
                             f"(default {DETECTOR_MIN_SIZE}, as torchvision ships it; 0: the input size)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--iters", type=int, default=3, help="timed calls (default 3; the median counts)")
    parser.add_argument("--no-flops", action="store_true", help="skip the GFLOPs count")
    parser.add_argument("--json", default="", help="also write the result to this JSON file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")


def _check_args(args: argparse.Namespace) -> None:
    for name in ("batch", "iters", "num_boxes"):
        if getattr(args, name) < 1:
            raise SystemExit(f"woo latency: --{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.threads < 0:
        raise SystemExit("woo latency: --warmup and --threads must be >= 0")


def run(args: argparse.Namespace) -> Dict:
    """Measure as ``args`` say; returns the result dict (also what --json writes)."""
    from woo.config import get_cfg

    _check_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.VIDEO_RESNET.PRETRAINED = ""  # weights do not change the time
    cfg.freeze()
    height, width = args.input_size
    common = dict(height=height, width=width, batch=args.batch, flops=not args.no_flops)
    inf = cfg.MODEL.INFERENCE
    subjects = {"woo": prepare_woo(cfg, **common)}
    if args.two_stage:
        subjects["two_stage"] = prepare_two_stage(cfg, num_boxes=args.num_boxes,
                                                  detector_min_size=args.detector_min_size, **common)
    result = {
        "config": args.config_file, "input_size": [height, width], "num_frames": cfg.INPUT.NUM_FRAMES,
        "batch": args.batch, "device": cfg.MODEL.DEVICE, "threads": torch.get_num_threads(),
        "precision": inf.PRECISION, "fold_bn": inf.FOLD_BN, "channels_last": use_channels_last(cfg),
        "compile": inf.COMPILE, "torch": torch.__version__,
    }
    result.update(measure(subjects, device=torch.device(cfg.MODEL.DEVICE), batch=args.batch,
                          warmup=args.warmup, iters=args.iters))
    if args.two_stage:
        for stat in ("ms_per_key_frame", "ms_per_key_frame_min"):
            result["ratio_woo_to_two_stage" + stat[len("ms_per_key_frame"):]] = (
                result["woo"][stat] / result["two_stage"][stat])
    return result


def format_result(result: Dict) -> str:
    """The table ``woo latency`` prints."""
    h, w = result["input_size"]
    mode = (f"{result['precision']}, BN folded {result['fold_bn']}, channels-last "
            f"{result['channels_last']}, compile {result['compile']}")
    lines = [f"{result['config']}: {result['num_frames']}x{h}x{w}, batch {result['batch']}, "
             f"{result['device']} ({result['threads']} threads), {mode}",
             "| pipeline | ms per key frame (median) | best of the calls | GFLOPs |", "|---|---|---|---|"]
    rows = [("WOO", result["woo"])]
    if "two_stage" in result:
        size = result["two_stage"]["detector_min_size"] or "input size"
        rows.append((f"two-stage (K={result['two_stage']['num_boxes']}, detector at {size})", result["two_stage"]))
    for name, r in rows:
        gflops = f"{r['gflops']:.1f}" if r["gflops"] is not None else "-"
        lines.append(f"| {name} | {r['ms_per_key_frame']:.1f} | {r['ms_per_key_frame_min']:.1f} | {gflops} |")
    if "two_stage" in result:
        flop_ratio = ""
        if result["woo"]["gflops"] and result["two_stage"]["gflops"]:
            flop_ratio = f" (GFLOPs {result['woo']['gflops'] / result['two_stage']['gflops']:.2f})"
        lines.append(f"WOO / two-stage time: {result['ratio_woo_to_two_stage']:.2f} (best of the calls "
                     f"{result['ratio_woo_to_two_stage_min']:.2f}){flop_ratio}")
    for name, r in rows:
        lines.append(f"{name} split (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["split_ms"].items()))
        if "peak_memory_mib" in r:
            share = r.get("peak_flops_share")
            lines.append(f"{name}: peak memory {r['peak_memory_mib']:.0f} MiB, share of peak FLOP/s "
                         + (f"{100 * share:.1f}%" if share is not None else "unknown for this GPU"))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    result = run(args)
    print(format_result(result))
    if args.json:
        write_json(args.json, result)
    return 0
