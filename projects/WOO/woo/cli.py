"""The ``woo`` command: one sub-command per job.

Each sub-command lives in its own module of :mod:`woo.commands`, which defines
``add_arguments(parser)`` and ``main(args) -> int``; a module is imported
only when its sub-command runs, so ``woo --help`` and light commands stay fast.
A sub-command whose last argument takes the remaining words
(``nargs=argparse.REMAINDER``: config overrides, KEY VALUE pairs) accepts its
flags anywhere, before, between or after the pairs.

Exit codes: 0 success; 1 an error, reported here, for every command, as one line
``woo <command>: error: ...`` (no traceback; ``WOO_TRACEBACK=1`` shows it);
2 a usage error; 130 interrupted (Ctrl-C).
"""
import argparse
import importlib
import logging
import os
import sys
import traceback
import warnings
from typing import List, Optional

from woo.commands.errors import USER_ERRORS, UsageError
from woo.runtime.logger import setup_logger

# Nothing above loads torch: OpenMP's wait policy must be in the environment before torch loads
# (prefer_passive_wait, called in main before woo.runtime.threads and the command are imported).

# sub-command -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("woo.commands.train", "train and/or evaluate a model from a config"),
    "synth": ("woo.commands.synth", "write the synthetic dataset, in AVA's or JHMDB-21's layout"),
    "prepare": ("woo.commands.prepare", "make a set of your own videos and annotations (CSV or CVAT XML) "
                "ready to train and evaluate on"),
    "check-data": ("woo.commands.check_data", "check a config's datasets (frames listed, on disk, decodable, "
                   "frame counts and sizes) before training"),
    "ava-eval": ("woo.commands.ava_eval", "frame-mAP of an AVA detection CSV"),
    "tube-eval": ("woo.commands.tube_eval", "frame-mAP and video-mAP of a JHMDB-21 / UCF101-24 detection CSV"),
    "flops": ("woo.commands.flops", "GFLOPs and parameters of a config's model"),
    "demo": ("woo.commands.demo", "run a trained model on a video: annotated video, tracks, timeline"),
    "latency": ("woo.commands.latency", "milliseconds per key frame of a config's model, by part"),
    "export": ("woo.commands.export", "export a model to ONNX or TorchScript"),
    "compare": ("woo.commands.compare", "two or more runs' metrics.json side by side, per-class AP differences"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="woo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    # fvcore and pytorchvideo script functions at import time, which torch 2.10+ reports as deprecated:
    # noise a user can do nothing about, printed before a command's one line of output or error.
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    # Parse the sub-command name first, then let its module define its arguments.
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or a clear "invalid choice" error
        return 2
    name = argv[0]
    module_name, help_text = SUBCOMMANDS[name]
    prefer_passive_wait(argv[1:])
    try:
        # Loading torch and the command takes seconds: Ctrl-C then is one line too.
        threads = importlib.import_module("woo.runtime.threads")  # loads torch: after the line above
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        print(f"woo {name}: interrupted", file=sys.stderr)
        return 130
    sub_parser = argparse.ArgumentParser(prog=f"woo {name}", description=help_text)
    module.add_arguments(sub_parser)
    threads.add_threads_argument(sub_parser)
    args = parse_flags_anywhere(sub_parser, argv[1:])
    # Warnings reach the user's terminal; a command that reports progress sets up more itself.
    setup_logger(stream="stderr", level=logging.WARNING)
    measured_here = (args.threads is None and threads.BUSY_CORES_ENV not in os.environ
                     and "OMP_NUM_THREADS" not in os.environ)
    try:
        if measured_here:
            # The load before this command computes anything, for all its thread choices and processes.
            os.environ[threads.BUSY_CORES_ENV] = f"{threads.busy_cores_elsewhere():.2f}"
        # Every command computes with these; one whose data workers change the choice sets it again.
        threads.configure_threads(args.threads)
        return int(module.main(args) or 0)
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `woo flops ... | head`): not the command's error.
        # Python's advice: point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as e:
        # A command that handles Ctrl-C says what it left, e.g. "interrupted at iteration 40; ...".
        print(f"woo {name}: {e.args[0] if e.args else 'interrupted'}", file=sys.stderr)
        return 130
    except UsageError as e:
        return _report(name, e, 2)
    except USER_ERRORS as e:
        return _report(name, e, 1)
    finally:
        if measured_here:  # a later command in this process measures its own load
            os.environ.pop(threads.BUSY_CORES_ENV, None)


# Spins of a waiting OpenMP thread before it sleeps (libgomp's GOMP_SPINCOUNT; about 0.1 ms):
# enough to catch the next parallel region of a step, too few to hold a core that another
# process needs (libgomp's default, 300000, is about 3 ms). Measured: benchmarks/threads.py.
WAIT_SPINS = 10000


def prefer_passive_wait(argv: List[str]) -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` with a short spin first (``GOMP_SPINCOUNT`` =
    :data:`WAIT_SPINS`; see :mod:`woo.runtime.threads`) for this process and its children,
    unless the user set the policy, ``argv`` asks for ``--threads 0`` (PyTorch's defaults), or
    torch is loaded already (the variables would change nothing, so they stay as they are).
    A ``GOMP_SPINCOUNT`` the user set stays."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules or _wants_pytorch_defaults(argv):
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("GOMP_SPINCOUNT", str(WAIT_SPINS))


def _wants_pytorch_defaults(argv: List[str]) -> bool:
    """Whether a command line asks for PyTorch's own thread defaults (``--threads 0``)."""
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word == "--threads" and i + 1 < len(argv):
            return argv[i + 1].strip() == "0"
        if word.startswith("--threads="):
            return word.split("=", 1)[1].strip() == "0"
    return False


def _report(name: str, error: BaseException, code: int) -> int:
    """Print ``error`` as one line ``woo <name>: error: ...`` (the traceback too with
    ``WOO_TRACEBACK=1``) and return ``code``."""
    if os.environ.get("WOO_TRACEBACK", "") not in ("", "0"):
        traceback.print_exception(error)
    # A KeyError's str() is its repr; an OSError from the system is "[Errno 2] No such file or directory: 'x'";
    # a torch loading error can run over many lines (its first says what failed).
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    lines = str(message).strip().splitlines() or [type(error).__name__]
    print(f"woo {name}: error: {lines[0]}", file=sys.stderr)
    return code


def parse_flags_anywhere(parser: argparse.ArgumentParser, argv: List[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, where flags may also stand among the KEY VALUE
    words that a REMAINDER positional collects.

    The words are read in pairs: a word in a KEY position that starts with "-" is a
    flag (its values follow it); a word in a VALUE position is never one, so
    values such as ``-1e-3`` stay values. ``--`` ends the flags. Unknown flags
    are left to argparse, which names them.
    """
    if not any(action.nargs == argparse.REMAINDER for action in parser._actions):
        return parser.parse_args(argv)
    flags: List[str] = []
    pairs: List[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            pairs += argv[i + 1:]
            break
        if word.startswith("-"):
            count = _flag_value_count(parser, word, argv[i + 1:])
            flags += argv[i:i + 1 + count]
            i += 1 + count
        else:
            pairs += argv[i:i + 2]
            i += 2
    return parser.parse_args(flags + pairs)


def _flag_value_count(parser: argparse.ArgumentParser, flag: str, following: List[str]) -> int:
    """How many of the ``following`` words are values of ``flag``."""
    action = parser._option_string_actions.get(flag.split("=", 1)[0])
    if action is None or "=" in flag or action.nargs == 0:
        return 0
    if action.nargs is None:
        return 1
    if isinstance(action.nargs, int):
        return action.nargs
    # "?", "*", "+": the words up to the next flag
    count = 0
    while count < len(following) and not following[count].startswith("-"):
        count += 1
        if action.nargs == "?":
            break
    return count


if __name__ == "__main__":
    sys.exit(main())
