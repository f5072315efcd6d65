"""Runs side by side: the figures and per-class AP of two or more ``metrics.json``,
and each later run's per-class AP difference from the first, sorted."""
import json
import math
import os
import string
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from .evaluation_report import metric_label, summary_figures
from .html import escape, new_figure, number_cell, page, save_figure, table, text_cell, write_text

__all__ = ["Run", "load_run", "run_labels", "check_same_classes", "ap_differences", "format_comparison",
           "write_comparison_report"]


@dataclass
class Run:
    """One run's evaluation: ``label`` (A, B, ...), the ``path`` of its metrics.json and its content."""

    label: str
    path: str
    metrics: Dict

    @property
    def per_class(self) -> Dict[str, Optional[float]]:
        return self.metrics["per_class"]


def load_run(path: str, label: str) -> Run:
    """The ``metrics.json`` at ``path``, or inside ``path`` when it is a folder (a run's OUTPUT_DIR).

    Raises:
        ValueError: one line naming the file: missing, not JSON, or without ``per_class``.
    """
    file = os.path.join(path, "metrics.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
        where = f"{path} has no metrics.json" if os.path.isdir(path) else f"{path}: no such file or folder"
        raise ValueError(where)
    try:
        with open(file, encoding="utf-8") as f:
            metrics = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}:{e.lineno}: not JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{file}: cannot be read ({e})") from None
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    if not isinstance(per_class, dict) or not per_class:
        raise ValueError(f"{file} has no per_class AP (a metrics.json of woo train, or of "
                         "woo ava-eval / tube-eval --json or --report, has one)")
    for name, ap in per_class.items():
        if ap is not None and (isinstance(ap, bool) or not isinstance(ap, (int, float))):
            raise ValueError(f"{file}: per_class[{name!r}] is {ap!r}, not a number or null")
        if ap is not None and math.isnan(ap):  # Python's json reads NaN; it means no ground truth, as null
            per_class[name] = None
    return Run(label=label, path=file, metrics=metrics)


def run_labels(count: int) -> List[str]:
    """A, B, ..., Z, then run27, run28, ..."""
    return [string.ascii_uppercase[i] if i < 26 else f"run{i + 1}" for i in range(count)]


def check_same_classes(runs: List[Run]) -> None:
    """Raise ValueError (one line) if a run evaluates other classes than the first."""
    first = set(runs[0].per_class)
    for run in runs[1:]:
        mine = set(run.per_class)
        if mine != first:
            only_first, only_mine = sorted(first - mine), sorted(mine - first)
            parts = [f"{len(names)} only in {where} (e.g. {names[0]!r})"
                     for names, where in ((only_first, runs[0].path), (only_mine, run.path)) if names]
            raise ValueError(f"{run.path} and {runs[0].path} evaluate different classes: {', '.join(parts)}")


def ap_differences(base: Run, other: Run) -> Dict[str, Optional[float]]:
    """``{class: AP of other - AP of base}`` in base's class order; None where either has no AP."""
    return {name: None if ap is None or other.per_class[name] is None else other.per_class[name] - ap
            for name, ap in base.per_class.items()}


def _sorted_differences(base: Run, other: Run):
    """``[(class, difference)]`` with a difference, largest gain first (ties: class name)."""
    diffs = [(n, d) for n, d in ap_differences(base, other).items() if d is not None]
    return sorted(diffs, key=lambda item: (-item[1], item[0]))


def format_comparison(runs: List[Run]) -> str:
    """The comparison as text: each run's figures, then per class the APs and differences from the first
    run, sorted by the last run's difference."""
    lines = [f"{run.label}: {run.path}" for run in runs]
    keys = list(dict.fromkeys(k for run in runs for k in summary_figures(run.metrics)))
    width = max([len(k) for k in keys] + [5])
    lines.append(f"{'':<{width}}  " + "  ".join(f"{run.label:>8}" for run in runs))
    for key in keys:
        values = [run.metrics.get(key) for run in runs]
        lines.append(f"{key:<{width}}  " + "  ".join(f"{_text(v):>8}" for v in values))
    base, last = runs[0], runs[-1]
    order = [n for n, _ in _sorted_differences(base, last)] + [n for n, d in ap_differences(base, last).items()
                                                              if d is None]
    name_width = max(len(n) for n in order)
    header = "  ".join(f"{run.label:>8}" for run in runs) + "  " + "  ".join(
        f"{run.label + '-' + base.label:>8}" for run in runs[1:])
    lines.append(f"{'class':<{name_width}}  {header}")
    for name in order:
        aps = "  ".join(f"{_text(run.per_class[name]):>8}" for run in runs)
        diffs = "  ".join(f"{_text(ap_differences(base, run)[name], signed=True):>8}" for run in runs[1:])
        lines.append(f"{name:<{name_width}}  {aps}  {diffs}")
    return "\n".join(lines)


def _text(value: Optional[float], signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def write_comparison_report(out_dir: str, runs: List[Run]) -> Dict[str, str]:
    """Write ``index.html`` and one ``ap_difference_<X>.png`` per later run X into ``out_dir``.

    Returns:
        ``{file name: path}`` of what was written (``index.html`` last).
    """
    base = runs[0]
    paths = {}
    for run in runs[1:]:
        name = f"ap_difference_{run.label}.png"
        paths[name] = os.path.join(out_dir, name)
        _plot_differences(paths[name], base, run)
    keys = list(dict.fromkeys(k for run in runs for k in summary_figures(run.metrics)))
    figure_rows = [[text_cell(metric_label(key, run_metrics_with(key, runs)))]
                   + [number_cell(run.metrics.get(key)) for run in runs]
                   + [number_cell(_difference(run.metrics.get(key), base.metrics.get(key)), signed=True, tint=True)
                      for run in runs[1:]] for key in keys]
    diff_headers = [f"{run.label} - {base.label}" for run in runs[1:]]
    last = runs[-1]
    order = [n for n, _ in _sorted_differences(base, last)] + [n for n, d in ap_differences(base, last).items()
                                                              if d is None]
    class_rows = [[text_cell(name)] + [number_cell(run.per_class[name]) for run in runs]
                  + [number_cell(ap_differences(base, run)[name], signed=True, tint=True) for run in runs[1:]]
                  for name in order]
    body = [
        "<h1>Comparison of runs</h1>",
        table(["run", "metrics.json"], ([text_cell(run.label), text_cell(run.path)] for run in runs), table_id="runs"),
        "<h2>Figures</h2>",
        table(["figure"] + [run.label for run in runs] + diff_headers, figure_rows, table_id="figures"),
    ]
    for run in runs[1:]:
        body += [f"<h2>Per-class AP, {escape(run.label)} - {escape(base.label)}</h2>",
                 f'<img src="ap_difference_{escape(run.label)}.png" alt="per-class AP difference">']
    body += ["<h2>Per-class AP</h2>",
             f'<p class="note">Sorted by {escape(last.label)} - {escape(base.label)}, largest gain first; '
             "classes without ground truth in a run come last.</p>",
             table(["class"] + [run.label for run in runs] + diff_headers, class_rows, table_id="per-class")]
    paths["index.html"] = os.path.join(out_dir, "index.html")
    write_text(paths["index.html"], page("Comparison of runs", "\n".join(body)))
    return paths


def run_metrics_with(key: str, runs: List[Run]) -> Dict:
    """The metrics of the first run that has ``key`` (for :func:`metric_label`)."""
    return next(run.metrics for run in runs if key in run.metrics)


def _difference(value, base) -> Optional[float]:
    return None if value is None or base is None else value - base


def _plot_differences(path: str, base: Run, run: Run) -> None:
    diffs = _sorted_differences(base, run)
    fig = new_figure(9, 1.3 + 0.24 * max(len(diffs), 1))
    ax = fig.subplots()
    rows = np.arange(len(diffs))
    values = np.array([d for _, d in diffs], dtype=float)
    ax.barh(rows, values, color=np.where(values >= 0, "#2e8b57", "#c62828"), height=0.75)
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_yticks(rows, [n for n, _ in diffs], fontsize=8)
    ax.set_ylim(len(diffs) - 0.5, -0.5)
    reach = max(float(np.abs(values).max()) if len(values) else 0.0, 0.01) * 1.25
    ax.set_xlim(-reach, reach)
    for row, value in zip(rows, values):
        ax.text(value, row, f" {value:+.3f} ", va="center", fontsize=7, ha="left" if value >= 0 else "right")
    base_map = base.metrics.get("frame_mAP@0.5")
    run_map = run.metrics.get("frame_mAP@0.5")
    change = f" (frame-mAP@0.5 {base_map:.4f} -> {run_map:.4f})" if base_map is not None and run_map is not None else ""
    ax.set_title(f"Per-class AP, {run.label} - {base.label}{change}", fontsize=10)
    ax.set_xlabel("AP difference")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
