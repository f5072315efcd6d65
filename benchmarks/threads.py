#!/usr/bin/env python
"""Thread settings of `woo train` and `woo demo`: speed at PyTorch's defaults, at WOO's choice and
over a small grid, on the machine as it is and beside a competing busy process.

Each measurement is a real command in its own process:

* training: `woo train` of a config (WOO_Tiny) for ``--iters`` iterations without evaluation;
  iterations per second from its log (the first ``--skip`` iterations left out: warm-up);
* demo: `woo demo` of the model that the first training wrote, on the synthetic val000 frames
  (300 frames, 10 s); video seconds per wall second, as the command prints it.

Settings: ``pytorch`` (``--threads 0``: one thread per core, OpenMP's spinning wait), ``chosen``
(no flag: WOO's choice), and ``N passive`` / ``N active`` for N in ``--grid`` (``--threads N``
with ``OMP_WAIT_POLICY=PASSIVE`` / ``ACTIVE``; ``--policies``; a passive thread sleeps at once), and ``N spin K``
for N > 1 and K in ``--spins`` (passive after ``GOMP_SPINCOUNT=K`` spins; libgomp's default is 300000, WOO's
10000). WOO's choice depends on the load it measures when it starts. Conditions: ``as is`` and ``busy`` (one extra
process spinning in a Python loop, pinned to no core, for the whole measurement). Settings are
interleaved in rounds, so a change in the machine's load falls on all of them alike; the median
over ``--rounds`` counts. Prints a table (and how far WOO's choice is from the best setting) and
writes JSON.

    python benchmarks/threads.py --iters 20 --rounds 1 --json threads.json

``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` are removed from the commands' environment (they
would override every setting).
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

from woo.formats.json_io import write_json
from woo.runtime.threads import available_cores

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSY_LOOP = "while True: pass"


def settings(grid, policies, spins=()):
    """{name: (extra command-line words, extra environment)}."""
    table = {"pytorch": (["--threads", "0"], {}), "chosen": ([], {})}
    for n in grid:
        for policy in policies:
            table[f"{n} {policy}"] = (["--threads", str(n)], {"OMP_WAIT_POLICY": policy.upper()})
        for spin in spins if n > 1 else ():
            table[f"{n} spin {spin}"] = (["--threads", str(n)], {"OMP_WAIT_POLICY": "PASSIVE",
                                                                 "GOMP_SPINCOUNT": str(spin)})
    return table


def environment(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "WOO_BUSY_CORES")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(REPO, "projects", "WOO"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def woo(words, env, timeout):
    return subprocess.run([sys.executable, "-m", "woo.cli", *words], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def train_speed(args, out_dir, words, env, choices=None) -> float:
    """Iterations per second of a short `woo train` (iterations after the first ``args.skip``);
    appends the command's logged thread choice to ``choices``."""
    done = woo(["train", "--config-file", args.config, *words, "SOLVER.MAX_ITER", str(args.iters),
                "SOLVER.LOG_PERIOD", "1", "SOLVER.CHECKPOINT_PERIOD", "0", "DATASETS.TEST", "()",
                "OUTPUT_DIR", out_dir], env, args.timeout)
    if done.returncode:
        raise RuntimeError(f"woo train failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    elapsed = {int(m.group(1)): float(m.group(2)) for m in
               re.finditer(r"iter (\d+)/\d+ .* elapsed (\d+(?:\.\d+)?)s", done.stdout)}
    first, last = args.skip, args.iters
    if choices is not None:
        choices.append(re.search(r"threads: (.*)", done.stdout).group(1).strip())
    return (last - first) / max(elapsed[last] - elapsed[first], 1e-9)


def demo_speed(args, weights, out_dir, words, env) -> float:
    """Video seconds per wall second of `woo demo` on the synthetic val000 frames."""
    frames = os.path.join(args.datasets, "woo_synthetic", "frames", "val000")
    done = woo(["demo", "--config-file", args.config, "--input", frames, "--fps", "30", "--output", out_dir,
                *words, "MODEL.WEIGHTS", weights], env, args.timeout)
    if done.returncode:
        raise RuntimeError(f"woo demo failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return float(re.search(r"\(([\d.]+) video s per wall s\)", done.stdout).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "Synthetic", "WOO_Tiny.yaml"))
    parser.add_argument("--iters", type=int, default=20, help="training iterations per measurement")
    parser.add_argument("--skip", type=int, default=2, help="first iterations not timed")
    parser.add_argument("--grid", type=int, nargs="+", default=None, help="thread counts (default 1..cores)")
    parser.add_argument("--policies", nargs="+", default=["passive", "active"], choices=["passive", "active"],
                        help="OpenMP wait policies of the grid")
    parser.add_argument("--spins", type=int, nargs="*", default=[], help="GOMP_SPINCOUNT values of the grid")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each setting (median counts)")
    parser.add_argument("--tasks", nargs="+", default=["train", "demo"], choices=["train", "demo"])
    parser.add_argument("--datasets", default=os.environ.get("WOO_DATASETS", os.path.join(REPO, "datasets")))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", default="threads.json")
    args = parser.parse_args()
    cores = available_cores()
    grid = args.grid or list(range(1, cores + 1))
    table = settings(grid, args.policies, args.spins)
    work = tempfile.mkdtemp(prefix="woo_threads_")
    base_env = {"WOO_DATASETS": args.datasets}

    # The model the demo runs (and the synthetic set, generated on first use).
    weights_dir = os.path.join(work, "weights")
    train_speed(args, weights_dir, [], environment(base_env))
    weights = os.path.join(weights_dir, "model_final.pth")

    results = {task: {cond: {name: [] for name in table} for cond in ("as is", "busy")} for task in args.tasks}
    loads = {"as is": [], "busy": []}
    choices = {"as is": [], "busy": []}  # WOO's logged choice in each condition
    for condition in ("as is", "busy"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if condition == "busy" else None
        try:
            for r in range(args.rounds):
                for name, (words, extra) in table.items():
                    env = environment({**base_env, **extra})
                    loads[condition].append(os.getloadavg()[0])
                    for task in args.tasks:
                        out = os.path.join(work, f"{task}_{condition.replace(' ', '')}_{name.replace(' ', '_')}_{r}")
                        t0 = time.perf_counter()
                        logged = choices[condition] if name == "chosen" else None
                        speed = (train_speed(args, out, words, env, logged) if task == "train"
                                 else demo_speed(args, weights, out, words, env))
                        results[task][condition][name].append(speed)
                        print(f"{condition:>5} {task:>5} {name:>10}: {speed:.3f} "
                              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()

    units = {"train": "it/s", "demo": "video s/s"}
    summary = {}
    print(f"\n{cores} cores; WOO's choice as logged:")
    for condition, logged in choices.items():
        for line in sorted(set(logged)):
            print(f"  {condition}: {line} ({logged.count(line)} of {len(logged)})")
    print("| task | condition | " + " | ".join(table) + " | chosen / best |")
    print("|---|---|" + "---|" * (len(table) + 1))
    for task, by_condition in results.items():
        for condition, by_setting in by_condition.items():
            medians = {name: statistics.median(v) for name, v in by_setting.items()}
            best = max(medians.values())
            ratio = medians["chosen"] / best
            summary.setdefault(task, {})[condition] = {"median": medians, "runs": by_setting,
                                                       "best": max(medians, key=medians.get),
                                                       "chosen_over_best": ratio}
            print(f"| {task} ({units[task]}) | {condition} | " + " | ".join(f"{m:.3g}" for m in medians.values())
                  + f" | {ratio:.2f} |")
    write_json(args.json, {
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
        "machine": {"cores": cores, "platform": platform.platform(),
                    "load_average_at_start": {k: [round(x, 2) for x in v] for k, v in loads.items()}},
        "config": os.path.relpath(args.config, REPO), "iters": args.iters, "skip": args.skip,
        "rounds": args.rounds, "chosen": choices, "settings": {k: {"args": w, "env": e} for k, (w, e) in table.items()},
        "results": summary,
    })
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
