"""``woo demo``: run a trained model on a video or a live input and write what it sees
(see :mod:`woo.inference.demo`)."""
import argparse
import os
import sys

import torch

from woo.config import load_config
from woo.inference.demo import LIVE_LOG, OUTPUT_FILES, run_demo
from woo.inference.live_input import DEFAULT_TIMEOUT, live_kind
from woo.inference.live_view import LiveWindow
from woo.inference.predictor import VideoPredictor
from woo.inference.video_reader import VideoReadError, open_video

from .errors import UsageError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="FILE", help="config of the model")
    parser.add_argument("--input", required=True, metavar="PATH",
                        help="video file (mp4, avi, mkv, webm, ...), folder of frames, camera (/dev/video0 or an "
                             "index), network stream (rtsp://, rtmp://, http://, udp://, tcp://) or - (a "
                             "container stream on standard input)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the outputs (created)")
    parser.add_argument("--key-stride", type=float, default=1.0, metavar="S",
                        help="seconds between key frames (default 1.0, as AVA; 0 = every frame)")
    parser.add_argument("--batch-size", type=int, default=4, metavar="B",
                        help="key-frame clips per forward pass (a live input: 1, the newest)")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="actions shown per actor")
    parser.add_argument("--score-thresh", type=float, default=0.5, metavar="X",
                        help="least action score shown and kept in an action segment")
    parser.add_argument("--iou-thresh", type=float, default=0.3, help="least IoU linking an actor to a track")
    parser.add_argument("--max-misses", type=int, default=2,
                        help="key frames a track may go unseen before it ends")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames (default 30)")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds of video and write the outputs")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds a live input may take to open or stay silent (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--input-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an FFmpeg option of the input, e.g. rtsp_transport=tcp, or a camera's "
                             "video_size=1280x720, framerate=30, input_format=mjpeg (repeatable)")
    parser.add_argument("--show", action="store_true",
                        help="show each frame in a window as it arrives (needs a display and OpenCV with a GUI); "
                             "q, Esc or closing it ends the run")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. MODEL.WEIGHTS model_final.pth MODEL.DEVICE cpu")


def main(args: argparse.Namespace) -> int:
    """Run ``woo demo``. Bad input, config or weights raise the errors :mod:`woo.cli` reports in one line."""
    cfg = _setup(args)
    options = _input_options(args.input_option)
    window = LiveWindow(f"woo demo {args.input}") if args.show else None  # no display: an error before the run
    try:
        if live_kind(args.input) is None:
            source = open_video(args.input, fps=args.fps, options=options)  # a bad input fails before the model
            predictor = VideoPredictor(cfg, key_stride=args.key_stride, batch_size=args.batch_size)
        else:  # the model first: a live input is read from the moment it opens
            predictor = VideoPredictor(cfg, key_stride=args.key_stride, batch_size=args.batch_size)
            source = open_video(args.input, timeout=args.timeout, options=options)
        result = run_demo(predictor, source, args.output, top_k=args.top_k, score_thresh=args.score_thresh,
                          iou_thresh=args.iou_thresh, max_misses=args.max_misses, fps=args.fps,
                          max_seconds=args.duration, window=window)
    finally:
        if window is not None:
            window.close()
    name = source.info.name
    if result["lost_frames"]:
        first = f" (first problem: {result['decode_messages'][0]})" if result["decode_messages"] else ""
        print(f"woo demo: warning: {result['lost_frames']} frames of {name} did not decode and are "
              f"missing from the output{first}", file=sys.stderr)
    live = result.get("live")
    if live is None:
        print(f"woo demo: wrote {', '.join(OUTPUT_FILES)} to {args.output}: {result['frames']} frames, "
              f"{result['key_frames']} key frames, {result['tracks']} tracks; {result['video_seconds']:.1f} s of video "
              f"in {result['wall_seconds']:.1f} s ({result['video_seconds_per_second']:.2f} video s per wall s)")
        return 0
    if result["time_jumps"]:
        print(f"woo demo: warning: the timestamps of {name} went back {result['time_jumps']} times (a restarted or "
              "wrapped stream); its time counted on from the frame before each", file=sys.stderr)
    if live["dropped_frames"]:
        print(f"woo demo: warning: {live['dropped_frames']} frames of {name} were dropped: the demo fell behind "
              "the stream (rendering or the window)", file=sys.stderr)
    delay = live["delay_seconds"]
    delays = (f"median {delay['median']:.2f} s, 95th percentile {delay['p95']:.2f} s" if delay["median"] is not None
              else "no key frame scored")
    print(f"woo demo: wrote {', '.join(OUTPUT_FILES)} and {LIVE_LOG} to {args.output}: {result['frames']} frames, "
          f"{result['key_frames']} key frames scored, {len(live['skipped_key_frames'])} skipped (the model was behind), "
          f"{result['tracks']} tracks; {result['video_seconds']:.1f} s of {name}, stopped: {live['stopped']}; "
          f"delay from a key frame's arrival to its line: {delays}")
    if result["stream_error"]:
        raise VideoReadError(f"{result['stream_error']} (--timeout {args.timeout:g}); the "
                             f"{result['video_seconds']:.1f} s received are in {args.output}")
    return 0


def _setup(args: argparse.Namespace):
    """Check the arguments; return the frozen config of ``--config-file`` and the overrides."""
    for name in ("key_stride", "score_thresh", "iou_thresh", "top_k", "max_misses"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    for name in ("duration", "timeout"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name} must be > 0 seconds, got {getattr(args, name)}")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise NotADirectoryError(f"--output {args.output} is a file; name a folder (created if missing)")
    cfg = load_config(args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available; "
                             "add 'MODEL.DEVICE cpu' to the command line")
    cfg.freeze()
    return cfg


def _input_options(pairs):
    """``--input-option KEY=VALUE`` words as a dict."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input-option takes KEY=VALUE (an FFmpeg option), got {pair!r}")
        options[key] = value
    return options
