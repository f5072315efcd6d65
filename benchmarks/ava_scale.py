#!/usr/bin/env python
"""Training records at AVA's size: load time, memory, and a DataLoader worker's private memory.

Writes AVA v2.2 train's files at their real size into a temporary folder: a frame list of
235 videos x 27,030 frames, 184,804 annotated key frames in about 1.15M CSV rows, the label
maps, excluded timestamps, and one real 1280x720 frame per video (only its header is read).
Then, in a fresh process, it times ``get_dataset_dicts(["ava_v2.2_train"])`` and measures the
growth of its resident memory (and the peak), and forks one DataLoader worker that looks up
every record's 32 clip frame paths (SlowFast 8x8: 32 frames at stride 2), as a training epoch
does, reading the worker's USS and PSS from /proc/<pid>/smaps_rollup before and after.

    python benchmarks/ava_scale.py                       # generate, measure, delete
    python benchmarks/ava_scale.py --root /tmp/ava_scale  # keep (or reuse) the generated files
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import torch.utils.data as torchdata

from woo.data.build import get_dataset_dicts
from woo.data.clip_sampling import clip_frame_indices
from woo.formats.json_io import write_json

NUM_VIDEOS = 235
FRAMES_PER_VIDEO = 27030  # seconds 900..1801 at 30 FPS
NUM_KEY_FRAMES = 184804
VALID = (902, 1798)


def _video_ids(rng: np.random.Generator) -> list:
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    return sorted({"".join(rng.choice(alphabet, 11)) for _ in range(NUM_VIDEOS * 2)})[:NUM_VIDEOS]


def generate(root: str, seed: int = 0) -> dict:
    """AVA v2.2 train at its real size under ``root/ava``; returns the counts written."""
    rng = np.random.default_rng(seed)
    ava = os.path.join(root, "ava")
    for folder in ("annotations", "frame_lists", "frames"):
        os.makedirs(os.path.join(ava, folder), exist_ok=True)
    videos = _video_ids(rng)
    with open(os.path.join(ava, "frame_lists", "train.csv"), "w") as f:
        f.write("original_vido_id video_idx frame_id path labels\n")
        for index, video in enumerate(videos):
            f.write("".join(f'{video} {index} {i} {video}/{video}_{i + 1:06d}.jpg ""\n'
                            for i in range(FRAMES_PER_VIDEO)))
    frame = np.full((720, 1280, 3), 96, np.uint8)
    for video in videos:
        os.makedirs(os.path.join(ava, "frames", video), exist_ok=True)
        cv2.imwrite(os.path.join(ava, "frames", video, f"{video}_000001.jpg"), frame)
    # Key frames: a random subset of the videos' annotated seconds, written in AVA's order.
    seconds = VALID[1] - VALID[0] + 1
    chosen = np.sort(rng.choice(NUM_VIDEOS * seconds, NUM_KEY_FRAMES, replace=False))
    people = rng.integers(1, 5, NUM_KEY_FRAMES)  # 1..4 people per key frame
    rows = []
    for key, count in zip(chosen.tolist(), people.tolist()):
        video, timestamp = videos[key // seconds], VALID[0] + key % seconds
        for person in range(count):
            x1, y1 = rng.uniform(0, 0.6, 2)
            w, h = rng.uniform(0.1, 0.4, 2)
            box = f"{video},{timestamp:04d},{x1:.3f},{y1:.3f},{x1 + w:.3f},{y1 + h:.3f}"
            # One pose (ids 1..14) and up to three interactions (15..80), as AVA's rows per person.
            actions = [int(rng.integers(1, 15))] + rng.choice(np.arange(15, 81), int(rng.integers(0, 4)),
                                                              replace=False).tolist()
            rows += [f"{box},{a},{person}\n" for a in actions]
    with open(os.path.join(ava, "annotations", "ava_train_v2.2.csv"), "w") as f:
        f.writelines(rows)
    unannotated = np.setdiff1d(np.arange(NUM_VIDEOS * seconds), chosen)[:100]
    with open(os.path.join(ava, "annotations", "ava_train_excluded_timestamps_v2.2.csv"), "w") as f:
        f.writelines(f"{videos[k // seconds]},{VALID[0] + k % seconds:04d}\n" for k in unannotated.tolist())
    with open(os.path.join(ava, "annotations", "ava_action_list_v2.2.pbtxt"), "w") as f:
        f.writelines(f'label {{\n  name: "ava action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
                     for i in range(1, 81))
    with open(os.path.join(ava, "annotations", "ava_action_list_v2.2_for_activitynet_2019.pbtxt"), "w") as f:
        f.writelines(f'item {{\n  name: "ava action {i}"\n  id: {i}\n}}\n' for i in range(1, 61))
    return {"videos": NUM_VIDEOS, "frames_per_video": FRAMES_PER_VIDEO, "key_frames": NUM_KEY_FRAMES,
            "csv_rows": len(rows)}


def _status_kb(pid: str, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _smaps_kb(pid: str = "self") -> dict:
    """USS (private clean + dirty) and PSS of a process, in kB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                values[parts[0].rstrip(":")] = int(parts[1])
    return {"uss": values["Private_Clean"] + values["Private_Dirty"], "pss": values["Pss"]}


class _EpochOfLookups:
    """A one-item dataset whose item, computed in a DataLoader worker, is that worker's memory
    before and after looking up every record's clip frame paths once."""

    def __init__(self, records, num_frames: int, sampling_rate: int):
        self.records, self.num_frames, self.sampling_rate = records, num_frames, sampling_rate

    def __len__(self):
        return 1

    def __getitem__(self, _):
        before = _smaps_kb()
        start = time.perf_counter()
        looked_up = 0
        for i in range(len(self.records)):
            record = self.records[i]
            paths = record["frame_paths"]
            indices = clip_frame_indices(record["key_frame_index"], self.num_frames, self.sampling_rate, len(paths))
            looked_up += len([paths[j] for j in indices])
        after = _smaps_kb()
        return {"before_kb": before, "after_kb": after, "paths": looked_up,
                "seconds": round(time.perf_counter() - start, 2)}


def measure(root: str) -> dict:
    """Load time and memory of the records, and one worker's growth (run in a fresh process)."""
    os.environ["WOO_DATASETS"] = root
    rss_before = _status_kb("self", "VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    records = get_dataset_dicts(["ava_v2.2_train"])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    rss_after, peak = _status_kb("self", "VmRSS"), _status_kb("self", "VmHWM")
    loader = torchdata.DataLoader(_EpochOfLookups(records, 32, 2), batch_size=None, num_workers=1,
                                  multiprocessing_context="fork")
    worker = next(iter(loader))
    return {
        "records": len(records),
        "load_seconds": round(seconds, 2),
        "load_cpu_seconds": round(cpu_seconds, 2),
        "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
        "rss_peak_growth_mb": round((peak - rss_before) / 1024, 1),
        "worker": {**worker, "uss_growth_mb": round((worker["after_kb"]["uss"] - worker["before_kb"]["uss"]) / 1024, 1),
                   "pss_growth_mb": round((worker["after_kb"]["pss"] - worker["before_kb"]["pss"]) / 1024, 1)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="", help="folder to write the files to and keep (reused if written)")
    parser.add_argument("--out", default="benchmarks/results/ava_scale.json")
    parser.add_argument("--measure-only", default="", help=argparse.SUPPRESS)  # the fresh measuring process
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure(args.measure_only)))
        return 0
    root = args.root or tempfile.mkdtemp(prefix="ava_scale_")
    try:
        marker = os.path.join(root, "ava_scale.json")
        if os.path.isfile(marker):
            with open(marker) as f:
                counts = json.load(f)
        else:
            start = time.perf_counter()
            counts = generate(root)
            print(f"wrote {counts} to {root} in {time.perf_counter() - start:.0f} s")
            with open(marker, "w") as f:
                json.dump(counts, f)
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure-only", root],
                                check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    worker = figures["worker"]
    print(f"{figures['records']} records in {figures['load_seconds']} s ({figures['load_cpu_seconds']} s CPU); RSS +{figures['rss_growth_mb']} MB "
          f"(peak +{figures['rss_peak_growth_mb']} MB); a worker's lookups of {worker['paths']} clip paths "
          f"({worker['seconds']} s): USS +{worker['uss_growth_mb']} MB, PSS +{worker['pss_growth_mb']} MB")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    write_json(args.out, {"benchmark": "ava_scale", "files": counts, **figures,
                          "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg": load}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
