"""``woo synth``: write the synthetic dataset, in AVA's layout or in JHMDB-21's (ACT) layout."""
import argparse
import dataclasses
import os
import shutil
import time

from woo.data.synthetic import SyntheticConfig, generate_atomically
from woo.data.synthetic_jhmdb import JHMDBSyntheticConfig, generate_jhmdb

from .errors import UsageError

__all__ = ["add_arguments", "main"]

# --format -> (generation parameters, writer, name of the second subset)
_FORMATS = {"ava": (SyntheticConfig, None, "val_videos"), "jhmdb": (JHMDBSyntheticConfig, generate_jhmdb, "test_videos")}


def _defaults(fmt: str) -> dict:
    return dataclasses.asdict(_FORMATS[fmt][0]())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--format", choices=tuple(_FORMATS), default="ava",
                        help="ava: AVA layout (frames, frame lists, CSVs, label map); jhmdb: JHMDB-21 layout "
                             "(ACT ground-truth pickle, frames per video)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    ava, jhmdb = _defaults("ava"), _defaults("jhmdb")
    for name in dict.fromkeys(list(ava) + list(jhmdb)):
        where = [f"{fmt} default {values[name]}" for fmt, values in (("ava", ava), ("jhmdb", jhmdb)) if name in values]
        only = "" if len(where) == 2 else f"; --format {where[0].split()[0]} only"
        kind = type(ava.get(name, jhmdb.get(name)))  # int, or float (motion_scale)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=", ".join(where) + only)
    parser.add_argument("--videos", type=int, default=None,
                        help="training videos; the val (ava) or test (jhmdb) subset gets a third of it")


def main(args: argparse.Namespace) -> int:
    config_class, write, second = _FORMATS[args.format]
    values = _defaults(args.format)
    for name in _defaults("ava").keys() | _defaults("jhmdb").keys():
        given = getattr(args, name)
        if given is None:
            continue
        if name not in values:
            raise UsageError(f"--{name.replace('_', '-')} does not apply to --format {args.format}")
        values[name] = given
    if args.videos is not None:
        values.update(train_videos=args.videos, **{second: max(1, args.videos // 3)})
    cfg = config_class(**values)
    if os.path.exists(args.out):
        if not args.force:
            raise FileExistsError(f"{args.out} exists (use --force to replace it)")
        shutil.rmtree(args.out)
    start = time.perf_counter()
    generate_atomically(args.out, cfg, write=write)
    print(f"woo synth: wrote {args.out} in {time.perf_counter() - start:.1f} s ({cfg})")
    return 0
