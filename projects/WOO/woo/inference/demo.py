"""``woo demo``: run a trained model on a video and write what it sees.

Writes into ``--output``: ``annotated.mp4`` (every input frame, H.264, boxes
coloured by track with their top actions, held between key frames),
``detections.csv`` (AVA format, key frames at whole seconds), ``tracks.json``
(tracks and action segments), ``timeline.png`` and ``index.html`` (the video
over an interactive timeline, :mod:`woo.reports.demo_page`). Every file is written
under a temporary name and renamed at the end, so an interrupted run leaves
nothing that looks complete.
"""
import argparse
import json
import os
import sys
import time
from collections import deque
from typing import Dict, List, Optional

import numpy as np
from tqdm import tqdm

from woo.reports.demo_page import write_demo_page

__all__ = ["add_arguments", "main", "run_demo", "OUTPUT_FILES"]

OUTPUT_FILES = ("annotated.mp4", "detections.csv", "tracks.json", "timeline.png", "index.html")


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
    """Run ``woo demo``; bad input, config or weights print one error line and return 2."""
    from woo.engine.checkpoint import CheckpointError

    from .predictor import VideoPredictor
    from .video_reader import VideoReadError, open_video

    try:
        cfg = _setup(args)
        open_video(args.input, fps=args.fps).close()  # a bad input fails before the model is built
        predictor = VideoPredictor(cfg, key_stride=args.key_stride, batch_size=args.batch_size)
        result = run_demo(predictor, args.input, args.output, top_k=args.top_k, score_thresh=args.score_thresh,
                          iou_thresh=args.iou_thresh, max_misses=args.max_misses, fps=args.fps)
    except (_UsageError, VideoReadError, CheckpointError, FileNotFoundError) as e:
        # One line: a torch loading error can run over many (its first says what failed).
        print(f"woo demo: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    if result["lost_frames"]:
        first = f" (first problem: {result['decode_messages'][0]})" if result["decode_messages"] else ""
        print(f"woo demo: warning: {result['lost_frames']} frames of {args.input} did not decode and are "
              f"missing from the output{first}", file=sys.stderr)
    print(f"woo demo: wrote {', '.join(OUTPUT_FILES)} to {args.output}: {result['frames']} frames, "
          f"{result['key_frames']} key frames, {result['tracks']} tracks; {result['video_seconds']:.1f} s of video "
          f"in {result['wall_seconds']:.1f} s ({result['video_seconds_per_second']:.2f} video s per wall s)")
    return 0


class _UsageError(Exception):
    """A bad argument or config: reported in one line."""


def _setup(args: argparse.Namespace):
    """Check the arguments; return the frozen config of ``--config-file`` and the overrides."""
    from woo.engine.setup import load_config

    for name in ("key_stride", "score_thresh", "iou_thresh", "top_k", "max_misses"):
        if getattr(args, name) < 0:
            raise _UsageError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.batch_size < 1:
        raise _UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        cfg = load_config(args.config_file, args.opts)
    except (KeyError, ValueError, AssertionError) as e:  # unknown key, bad value or odd number of overrides
        raise _UsageError(f"config: {e.args[0] if e.args else e}") from None
    if cfg.MODEL.DEVICE.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise _UsageError(f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available; "
                              "add 'MODEL.DEVICE cpu' to the command line")
    cfg.freeze()
    return cfg


class _Outputs:
    """Temporary paths of the outputs, renamed into place by :meth:`commit`, removed otherwise."""

    def __init__(self, directory: str):
        self.created = not os.path.isdir(directory)
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.final = {name: os.path.join(directory, name) for name in OUTPUT_FILES}
        self.temp = {name: os.path.join(directory, f".{name}.partial") for name in OUTPUT_FILES}

    def commit(self) -> None:
        for name in OUTPUT_FILES:
            os.replace(self.temp[name], self.final[name])

    def discard(self) -> None:
        for path in self.temp.values():
            if os.path.exists(path):
                os.remove(path)
        if self.created and not os.listdir(self.directory):
            os.rmdir(self.directory)


def run_demo(predictor, video, output_dir: str, *, top_k: int = 3, score_thresh: float = 0.5,
             iou_thresh: float = 0.3, max_misses: int = 2, fps: Optional[float] = None,
             show_progress: bool = True) -> Dict:
    """Predict, track and render ``video`` into ``output_dir`` (see the module docstring).

    Args:
        predictor: a :class:`woo.VideoPredictor`.
        video: a video file, folder of frames or (T, H, W, 3) RGB array.
        top_k / score_thresh: actions drawn per actor; ``score_thresh`` also bounds action segments.
        iou_thresh / max_misses: of the tracker.
        fps: frame rate of a folder or array.

    Returns:
        counts (frames, key_frames, tracks, lost_frames) and timings (seconds of
        decoding, model, rendering, wall; video seconds per wall second).
    """
    from .render import H264Writer, action_labels, draw_actions
    from .tracking import ActionTracker
    from .video_reader import DecodedFrame

    start, model_seconds_before = time.perf_counter(), predictor.model_seconds
    stream = predictor.stream(video, fps=fps)
    info = stream.info
    outputs = _Outputs(output_dir)
    tracker = ActionTracker(iou_thresh=iou_thresh, max_misses=max_misses)
    names = predictor.class_names
    writer = None
    render_seconds = 0.0
    waiting = deque()  # decoded frames not yet rendered
    shown = None  # (time, boxes, ids, labels) of the key frame drawn on the waiting frames
    csv_predictions, seconds_seen = [], set()
    frames = key_frames = 0
    last_time = 0.0

    def render_until(limit: float) -> None:
        nonlocal render_seconds, frames
        t0 = time.perf_counter()
        while waiting and waiting[0].time < limit:
            frame = waiting.popleft()
            image = frame.image.copy()
            if shown is not None:
                draw_actions(image, shown[1], shown[2], shown[3])
            writer.write(image)
            frames += 1
            bar.update(1)
        render_seconds += time.perf_counter() - t0

    bar = None  # shown from the first decoded frame on
    try:
        writer = H264Writer(outputs.temp["annotated.mp4"], width=info.width, height=info.height, fps=info.fps,
                            container="mp4")
        for event in stream:
            if isinstance(event, DecodedFrame):
                if bar is None:
                    bar = tqdm(total=info.expected_frames, unit="frame", desc=f"demo {info.video_id}",
                               disable=not show_progress, dynamic_ncols=True)
                waiting.append(event)
                last_time = event.time
                continue
            ids = tracker.update(event.time, event.boxes, event.scores, event.actions)
            labels = [action_labels(a, names, top_k, score_thresh) for a in event.actions]
            if shown is not None:
                render_until((shown[0] + event.time) / 2)  # each frame shows its nearest key frame
            shown = (event.time, event.boxes, ids, labels)
            key_frames += 1
            second = int(round(event.time))
            if abs(event.time - second) <= 0.5 / float(info.fps) + 1e-6 and second not in seconds_seen:
                seconds_seen.add(second)
                scale = np.asarray([info.width, info.height] * 2, dtype=np.float32)
                csv_predictions.append({"video_id": info.video_id, "timestamp": second,
                                        "boxes": np.clip(event.boxes / scale, 0.0, 1.0), "scores": event.actions})
        render_until(float("inf"))
        writer.close()
        writer = None
        bar.close()
        duration = last_time + 1.0 / float(info.fps)
        half_width = predictor.key_stride / 2 if predictor.key_stride > 0 else 0.5 / float(info.fps)
        tracks = _tracks_json(tracker.tracks(), names, score_thresh, half_width, duration)
        _write_outputs(outputs, info, predictor, tracks, csv_predictions, duration)
        outputs.commit()
    except BaseException:
        if bar is not None:
            bar.close()
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the original error matters, not a failure to finish a partial file
                pass
        outputs.discard()
        raise
    wall = time.perf_counter() - start
    stats = stream.decode_stats
    return {
        "frames": frames,
        "key_frames": key_frames,
        "tracks": len(tracks),
        "lost_frames": stats.lost_frames(info),
        "decode_messages": list(stats.messages),
        "video_seconds": duration,
        "wall_seconds": wall,
        "decode_seconds": stats.seconds,
        "model_seconds": predictor.model_seconds - model_seconds_before,
        "render_seconds": render_seconds,
        "video_seconds_per_second": duration / wall if wall > 0 else float("inf"),
    }


def _tracks_json(tracks, names, score_thresh: float, half_width: float, duration: float) -> List[Dict]:
    from .tracking import action_segments

    result = []
    for track in tracks:
        result.append({
            "id": track.track_id,
            "start": round(max(track.times[0] - half_width, 0.0), 4),
            "end": round(min(track.times[-1] + half_width, duration), 4),
            "key_frames": [{"time": round(t, 4), "box": [round(float(v), 1) for v in box], "score": round(s, 4),
                            "actions": [round(float(v), 4) for v in actions]}
                           for t, box, s, actions in zip(track.times, track.boxes, track.scores, track.actions)],
            "segments": action_segments(track, names, score_thresh, half_width, duration),
        })
    return result


def _write_outputs(outputs: _Outputs, info, predictor, tracks: List[Dict], csv_predictions: List[Dict],
                   duration: float) -> None:
    from woo.evaluation import write_detections_csv

    from .timeline import plot_timeline

    write_detections_csv(outputs.temp["detections.csv"], csv_predictions)
    document = {
        "video": info.name,
        "video_id": info.video_id,
        "width": info.width,
        "height": info.height,
        "fps": float(info.fps),
        "duration": round(duration, 4),
        "key_stride": predictor.key_stride,
        "class_names": list(predictor.class_names),
        "tracks": tracks,
    }
    with open(outputs.temp["tracks.json"], "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    plot_timeline(outputs.temp["timeline.png"], tracks, predictor.class_names, duration)
    write_demo_page(outputs.temp["index.html"], document, video="annotated.mp4")
