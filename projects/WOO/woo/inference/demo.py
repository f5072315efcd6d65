"""What ``woo demo`` does: run a trained model on a video and write what it sees.

Writes into ``--output``: ``annotated.mp4`` (every input frame, H.264, boxes
coloured by track with their top actions, held between key frames),
``detections.csv`` (AVA format, key frames at whole seconds), ``tracks.json``
(tracks and action segments), ``timeline.png`` and ``index.html`` (the video
over an interactive timeline, :mod:`woo.reports.demo_page`). Every file is written
under a temporary name and renamed at the end, so an interrupted file run leaves
nothing that looks complete.

A live input (camera, network stream, standard input) also gets ``live.jsonl``:
one JSON line per key frame as soon as it is scored, flushed at once
(:func:`live_line`). Its other files are written when the stream ends, at
``duration`` or on Ctrl-C, complete: an interrupted live run leaves what it saw.
"""
import json
import os
import time
from collections import deque
from typing import Dict, List, Optional

import numpy as np
from tqdm import tqdm

from woo.evaluation.detections import write_detections_csv
from woo.formats.atomic import PendingFiles
from woo.formats.boxes import boxes_to_unit
from woo.formats.json_io import JsonLinesWriter
from woo.reports.demo_page import write_demo_page
from woo.runtime.interrupt import sigint_deferred

from .live_schedule import SkippedKeyFrame
from .predictor import KeyFramePrediction
from .render import ActionOverlay, H264Writer, action_labels, best_actions
from .timeline import plot_timeline
from .tracking import ActionTracker, action_segments
from .video_reader import DecodedFrame

__all__ = ["run_demo", "live_line", "OUTPUT_FILES", "LIVE_LOG"]

OUTPUT_FILES = ("annotated.mp4", "detections.csv", "tracks.json", "timeline.png", "index.html")
# A live input's log of scored key frames, written as they are scored.
LIVE_LOG = "live.jsonl"


def run_demo(predictor, video, output_dir: str, *, top_k: int = 3, score_thresh: float = 0.5,
             iou_thresh: float = 0.3, max_misses: int = 2, fps: Optional[float] = None,
             max_seconds: Optional[float] = None, window=None, show_progress: bool = True) -> Dict:
    """Predict, track and render ``video`` into ``output_dir`` (see the module docstring).

    Args:
        predictor: a :class:`woo.VideoPredictor`.
        video: a video file, live input, folder of frames, (T, H, W, 3) RGB array or
            a source from :func:`woo.inference.video_reader.open_video`.
        top_k / score_thresh: actions drawn per actor; ``score_thresh`` also bounds action segments.
        iou_thresh / max_misses: of the tracker.
        fps: frame rate of a folder or array.
        max_seconds: stop after this many seconds of video (``--duration``).
        window: a :class:`woo.inference.live_view.LiveWindow` showing each frame as it
            arrives; closing it ends the run as the end of the video would.

    Returns:
        counts (frames, key_frames, tracks, lost_frames) and timings (seconds of
        decoding, model, rendering, wall; video seconds per wall second); for a
        live input also ``live`` (:func:`_live_summary`), ``stream_error`` (why the
        stream stopped sending, or None) and ``time_jumps`` (times its timestamps went back).

    Raises:
        KeyboardInterrupt: on Ctrl-C; a live input's outputs are written first and
            the message names them.
    """
    start, model_seconds_before = time.perf_counter(), predictor.model_seconds
    stream = predictor.stream(video, fps=fps, max_seconds=max_seconds)
    info = stream.info
    outputs = PendingFiles(output_dir, OUTPUT_FILES)
    log = JsonLinesWriter(os.path.join(output_dir, LIVE_LOG)) if info.live else None
    tracker = ActionTracker(iou_thresh=iou_thresh, max_misses=max_misses)
    names = predictor.class_names
    writer = None
    render_seconds = 0.0
    waiting = deque()  # (time, image) of decoded frames not yet rendered
    shown = None  # (time, ActionOverlay) of the key frame drawn on the waiting frames
    csv_predictions, seconds_seen = [], set()
    frames = key_frames = 0
    last_time = 0.0
    skipped: List[float] = []  # live: times of the key frames not scored
    delays: List[float] = []  # live: seconds from each scored key frame's arrival to its line in live.jsonl
    stop = None  # why the run ended before the input did

    def render_until(limit: float) -> None:
        nonlocal render_seconds, frames
        t0 = time.perf_counter()
        while waiting and waiting[0][0] < limit:
            frame_time, image = waiting.popleft()
            image = image.copy()
            if shown is not None:
                shown[1].draw(image)
            writer.write(image, frame_time)
            frames += 1
            bar.update(1)
        render_seconds += time.perf_counter() - t0

    bar = None  # shown from the first decoded frame on
    try:
        writer = H264Writer(outputs.path("annotated.mp4"), width=info.width, height=info.height, fps=info.fps,
                            container="mp4")
        try:
            for event in stream:
                if isinstance(event, DecodedFrame):
                    if bar is None:
                        bar = tqdm(total=info.expected_frames, unit="frame", desc=f"demo {info.video_id}",
                                   disable=not show_progress, dynamic_ncols=True)
                    waiting.append((event.time, event.image))
                    last_time = event.time
                    if window is not None and not window.show(event.image, shown[1] if shown else None):
                        stop = "window closed"
                        stream.decode_stats.cut = True  # the frames not read are not lost
                        break
                    continue
                if isinstance(event, SkippedKeyFrame):
                    skipped.append(event.time)
                    continue
                ids = tracker.update(event.time, event.boxes, event.scores, event.actions)
                labels = [action_labels(a, names, top_k, score_thresh) for a in event.actions]
                if shown is not None:
                    render_until((shown[0] + event.time) / 2)  # each frame shows its nearest key frame
                t0 = time.perf_counter()  # laying out the tabs is part of rendering
                shown = (event.time, ActionOverlay((info.width, info.height), event.boxes, ids, labels))
                render_seconds += time.perf_counter() - t0
                key_frames += 1
                if log is not None:
                    delays.append(time.time() - event.arrival)
                    log.write(live_line(event, ids, names, top_k, score_thresh, delays[-1], len(skipped)))
                    bar.set_postfix(delay=f"{delays[-1]:.2f}s", skipped=len(skipped), refresh=False)
                second = int(round(event.time))
                if abs(event.time - second) <= 0.5 / float(info.fps) + 1e-6 and second not in seconds_seen:
                    seconds_seen.add(second)
                    csv_predictions.append({"video_id": info.video_id, "timestamp": second, "scores": event.actions,
                                            "boxes": np.clip(boxes_to_unit(event.boxes, info.height, info.width),
                                                             0, 1)})
        except KeyboardInterrupt:
            if not info.live or not (waiting or frames):  # a file, or nothing received yet: nothing to keep
                raise
            stop = "interrupted"
        finally:
            stream.close()
        render_until(float("inf"))
        writer.close()
        writer = None
        bar.close()
        duration = last_time + 1.0 / float(info.fps)
        half_width = predictor.key_stride / 2 if predictor.key_stride > 0 else 0.5 / float(info.fps)
        tracks = _tracks_json(tracker.tracks(), names, score_thresh, half_width, duration)
        live = _live_summary(stream, stop, skipped, delays) if info.live else None
        _write_outputs(outputs, info, predictor, tracks, csv_predictions, duration, live=live)
        with sigint_deferred():  # all of them or none
            outputs.commit()
    except BaseException as error:
        if bar is not None:
            bar.close()
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the original error matters, not a failure to finish a partial file
                pass
        if log is not None and not delays:  # a log of nothing is not kept
            log.close()
            os.remove(log.path)
        outputs.discard()
        if isinstance(error, KeyboardInterrupt) and not error.args:
            raise KeyboardInterrupt(f"interrupted; nothing written to {output_dir} (the partial files "
                                    "were removed)") from None
        raise
    finally:
        if log is not None:
            log.close()
    if stop == "interrupted":
        raise KeyboardInterrupt(f"interrupted: wrote {', '.join(OUTPUT_FILES)} of the {duration:.1f} s received "
                                f"to {output_dir}")
    wall = time.perf_counter() - start
    stats = stream.decode_stats
    result = {
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
    if live is not None:
        result["live"] = live
        result["stream_error"] = stats.stopped
        result["time_jumps"] = stats.time_jumps
    return result


def live_line(prediction: KeyFramePrediction, track_ids: np.ndarray, class_names, top_k: int, score_thresh: float,
              delay: float, skipped: int) -> Dict:
    """The ``live.jsonl`` line of one scored key frame.

    Keys: ``time`` (seconds of stream time, from the stream's timestamps),
    ``frame`` (index of the decoded frame nearest it), ``arrival`` (wall-clock
    UNIX time the key frame arrived), ``delay`` (seconds from its arrival to
    this line), ``skipped`` (key frames skipped so far), and ``tracks``: per
    actor its track ``id``, ``box`` (x1, y1, x2, y2 in pixels of the input),
    actor ``score`` and ``actions`` (the ``top_k`` scoring at least
    ``score_thresh``, best first: ``label``, ``id`` (1-based), ``score``).
    """
    tracks = []
    for track_id, box, score, actions in zip(track_ids, prediction.boxes, prediction.scores, prediction.actions):
        tracks.append({"id": int(track_id), "box": [round(float(v), 1) for v in box], "score": round(float(score), 4),
                       "actions": [{"label": class_names[j], "id": j + 1, "score": round(float(actions[j]), 4)}
                                   for j in best_actions(actions, top_k, score_thresh)]})
    return {"time": round(prediction.time, 4), "frame": prediction.frame_index, "arrival": round(prediction.arrival, 3),
            "delay": round(delay, 3), "skipped": skipped, "tracks": tracks}


def _live_summary(stream, stop: Optional[str], skipped: List[float], delays: List[float]) -> Dict:
    """What ``tracks.json`` records of a live run (``live``) and ``run_demo`` returns."""
    stats = stream.decode_stats
    if stop is None:
        stop = "duration" if stats.cut else (stats.stopped or "end of stream")
    return {
        "input": stream.info.name,
        "stopped": stop,
        "lookahead_seconds": round(stream.sampler.lookahead, 4),
        "scored_key_frames": len(delays),
        "skipped_key_frames": [round(t, 4) for t in skipped],
        "dropped_frames": stats.dropped,
        "delay_seconds": {
            "median": round(float(np.median(delays)), 3) if delays else None,
            "p95": round(float(np.percentile(delays, 95)), 3) if delays else None,
            "max": round(float(np.max(delays)), 3) if delays else None,
        },
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
                   duration: float, live: Optional[Dict] = None) -> None:
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
    if live is not None:
        document["live"] = live
    with open(outputs.path("tracks.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    plot_timeline(outputs.path("timeline.png"), tracks, predictor.class_names, duration)
    write_demo_page(outputs.path("index.html"), document, video="annotated.mp4")
