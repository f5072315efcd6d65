"""``woo check-data``: check every split of a config before training on it (:mod:`woo.data.check`)."""
import argparse

from woo.config import load_config
from woo.data.check import SplitReport, check_split

from .errors import UsageError

__all__ = ["add_arguments", "main"]

# Rarest actions listed per split.
_RAREST = 10
# Problems printed per kind; the rest are counted in one line.
_SHOWN = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="WOO YAML config (its DATASETS.TRAIN and TEST)")
    parser.add_argument("--sample", type=int, default=500, metavar="N",
                        help="clip frames opened and decoded per split, besides each video's first and last "
                             "(0: every clip frame; default 500)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, e.g. DATASETS.TRAIN '(\"ava_v2.2_train\",)'")


def _print(report: SplitReport) -> None:
    print(f"{report.name}: {report.videos} videos, {report.key_frames} key frames, {report.boxes} boxes")
    if report.videos:
        counts = sorted(report.frames_per_video.items(), key=lambda item: -item[1])
        print("  frames per video: " + ", ".join(f"{frames} ({videos} videos)" for frames, videos in counts[:5])
              + (f", {len(counts) - 5} other counts" if len(counts) > 5 else ""))
        sizes = sorted(report.frame_sizes.items(), key=lambda item: -item[1])
        print("  frame sizes (HxW): " + ", ".join(f"{h}x{w} ({videos} videos)" for (h, w), videos in sizes[:5])
              + (f", {len(sizes) - 5} other sizes" if len(sizes) > 5 else ""))
        rarest = sorted(report.actions.items(), key=lambda item: (item[1], item[0]))[:_RAREST]
        print("  rarest actions (boxes): " + ", ".join(f"{name} ({count})" for name, count in rarest))
        print(f"  clip frames opened and decoded: {report.frames_checked}")
    if not report.problems:
        print("  no problem found")
    for kind, lines in report.problems.items():
        print(f"  problems, {kind}: {len(lines)}")
        for line in lines[:_SHOWN]:
            print(f"    {line}")
        if len(lines) > _SHOWN:
            print(f"    ... and {len(lines) - _SHOWN} more")


def main(args: argparse.Namespace) -> int:
    if args.sample < 0:
        raise UsageError(f"--sample must be >= 0 (0: every clip frame), got {args.sample}")
    cfg = load_config(args.config_file, args.opts)
    names = list(dict.fromkeys([*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST]))
    if not names:
        raise ValueError(f"{args.config_file} names no dataset (DATASETS.TRAIN and DATASETS.TEST are empty)")
    num_frames = 1 if cfg.INPUT.KEY_FRAME_ONLY else cfg.INPUT.NUM_FRAMES
    problems = 0
    for name in names:
        report = check_split(name, num_frames=num_frames, sampling_rate=cfg.INPUT.SAMPLING_RATE, sample=args.sample)
        _print(report)
        problems += report.num_problems
    if problems:
        print(f"{problems} problem(s) in {len(names)} split(s)")
        return 1
    print(f"{len(names)} split(s) checked: no problem found")
    return 0
