"""``woo demo``: run a trained model on a video and write what it sees (see :mod:`woo.inference.demo`)."""
import argparse
import sys

import torch

from woo.config import load_config
from woo.inference.demo import OUTPUT_FILES, run_demo
from woo.inference.predictor import VideoPredictor
from woo.inference.video_reader import open_video

from .errors import UsageError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="FILE", help="config of the model")
    parser.add_argument("--input", required=True, metavar="PATH",
                        help="video file (mp4, avi, mkv, webm, ...) or folder of frames")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the outputs (created)")
    parser.add_argument("--key-stride", type=float, default=1.0, metavar="S",
                        help="seconds between key frames (default 1.0, as AVA; 0 = every frame)")
    parser.add_argument("--batch-size", type=int, default=4, metavar="B", help="key-frame clips per forward pass")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="actions shown per actor")
    parser.add_argument("--score-thresh", type=float, default=0.5, metavar="X",
                        help="least action score shown and kept in an action segment")
    parser.add_argument("--iou-thresh", type=float, default=0.3, help="least IoU linking an actor to a track")
    parser.add_argument("--max-misses", type=int, default=2,
                        help="key frames a track may go unseen before it ends")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames (default 30)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. MODEL.WEIGHTS model_final.pth MODEL.DEVICE cpu")


def main(args: argparse.Namespace) -> int:
    """Run ``woo demo``. Bad input, config or weights raise the errors :mod:`woo.cli` reports in one line."""
    cfg = _setup(args)
    open_video(args.input, fps=args.fps).close()  # a bad input fails before the model is built
    predictor = VideoPredictor(cfg, key_stride=args.key_stride, batch_size=args.batch_size)
    result = run_demo(predictor, args.input, args.output, top_k=args.top_k, score_thresh=args.score_thresh,
                      iou_thresh=args.iou_thresh, max_misses=args.max_misses, fps=args.fps)
    if result["lost_frames"]:
        first = f" (first problem: {result['decode_messages'][0]})" if result["decode_messages"] else ""
        print(f"woo demo: warning: {result['lost_frames']} frames of {args.input} did not decode and are "
              f"missing from the output{first}", file=sys.stderr)
    print(f"woo demo: wrote {', '.join(OUTPUT_FILES)} to {args.output}: {result['frames']} frames, "
          f"{result['key_frames']} key frames, {result['tracks']} tracks; {result['video_seconds']:.1f} s of video "
          f"in {result['wall_seconds']:.1f} s ({result['video_seconds_per_second']:.2f} video s per wall s)")
    return 0


def _setup(args: argparse.Namespace):
    """Check the arguments; return the frozen config of ``--config-file`` and the overrides."""
    for name in ("key_stride", "score_thresh", "iou_thresh", "top_k", "max_misses"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    cfg = load_config(args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available; "
                             "add 'MODEL.DEVICE cpu' to the command line")
    cfg.freeze()
    return cfg
