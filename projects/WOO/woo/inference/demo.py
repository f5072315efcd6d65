"""What ``woo demo`` does: run a trained model on a video and write what it sees.

Writes into ``--output``: ``annotated.mp4`` (every input frame, H.264, boxes
coloured by track with their top actions, held between key frames),
``detections.csv`` (AVA format, key frames at whole seconds), ``tracks.json``
(tracks and action segments), ``timeline.png`` and ``index.html`` (the video
over an interactive timeline, :mod:`woo.reports.demo_page`). Every file is written
under a temporary name and renamed at the end, so an interrupted run leaves
nothing that looks complete.
"""
import json
import time
from collections import deque
from typing import Dict, List, Optional

import numpy as np
from tqdm import tqdm

from woo.evaluation.detections import write_detections_csv
from woo.formats.atomic import PendingFiles
from woo.formats.boxes import boxes_to_unit
from woo.reports.demo_page import write_demo_page

from .render import ActionOverlay, H264Writer, action_labels
from .timeline import plot_timeline
from .tracking import ActionTracker, action_segments
from .video_reader import DecodedFrame

__all__ = ["run_demo", "OUTPUT_FILES"]

OUTPUT_FILES = ("annotated.mp4", "detections.csv", "tracks.json", "timeline.png", "index.html")


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
    start, model_seconds_before = time.perf_counter(), predictor.model_seconds
    stream = predictor.stream(video, fps=fps)
    info = stream.info
    outputs = PendingFiles(output_dir, OUTPUT_FILES)
    tracker = ActionTracker(iou_thresh=iou_thresh, max_misses=max_misses)
    names = predictor.class_names
    writer = None
    render_seconds = 0.0
    waiting = deque()  # decoded frames not yet rendered
    shown = None  # (time, ActionOverlay) of the key frame drawn on the waiting frames
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
                shown[1].draw(image)
            writer.write(image)
            frames += 1
            bar.update(1)
        render_seconds += time.perf_counter() - t0

    bar = None  # shown from the first decoded frame on
    try:
        writer = H264Writer(outputs.path("annotated.mp4"), width=info.width, height=info.height, fps=info.fps,
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
            t0 = time.perf_counter()  # laying out the tabs is part of rendering
            shown = (event.time, ActionOverlay((info.width, info.height), event.boxes, ids, labels))
            render_seconds += time.perf_counter() - t0
            key_frames += 1
            second = int(round(event.time))
            if abs(event.time - second) <= 0.5 / float(info.fps) + 1e-6 and second not in seconds_seen:
                seconds_seen.add(second)
                csv_predictions.append({"video_id": info.video_id, "timestamp": second, "scores": event.actions,
                                        "boxes": np.clip(boxes_to_unit(event.boxes, info.height, info.width), 0, 1)})
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


def _write_outputs(outputs: PendingFiles, info, predictor, tracks: List[Dict], csv_predictions: List[Dict],
                   duration: float) -> None:
    write_detections_csv(outputs.path("detections.csv"), csv_predictions)
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
    with open(outputs.path("tracks.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    plot_timeline(outputs.path("timeline.png"), tracks, predictor.class_names, duration)
    write_demo_page(outputs.path("index.html"), document, video="annotated.mp4")
