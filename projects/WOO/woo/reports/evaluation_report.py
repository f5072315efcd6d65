"""The evaluation report: ``index.html`` and its PNGs for one evaluation.

It shows the figures of ``metrics.json`` (frame-mAP@0.5 under both AVA
protocols, or frame-mAP and the video-mAPs of a JHMDB / UCF evaluation), the
per-class AP as a sorted bar chart coloured by AVA's action type, AP against
the number of ground-truth instances, the precision-recall curves of the best
and the worst classes, and the key frames with the most missed (actor, action)
pairs. Everything is drawn from what the evaluation kept
(:class:`~woo.formats.eval_details.EvaluationDetails`); nothing is re-evaluated.
"""
import math
import os
from typing import Dict, List, Optional

import numpy as np
from scipy.stats import spearmanr

from woo.formats.eval_details import EvaluationDetails

from .html import escape, new_figure, number, number_cell, page, save_figure, table, text_cell, write_text

__all__ = ["LABEL_TYPES", "REPORT_FILES", "metric_label", "summary_figures", "write_evaluation_report", "report_folder_problem"]

# AVA's action types (the label maps' label_type) -> (name shown, colour).
LABEL_TYPES = {
    "PERSON_MOVEMENT": ("pose", "#4c72b0"),
    "OBJECT_MANIPULATION": ("object interaction", "#dd8452"),
    "PERSON_INTERACTION": ("person interaction", "#55a868"),
}
_NO_TYPE = ("other", "#8c8c8c")
# Pictures of the report, in the order the page shows them.
REPORT_FILES = ("per_class_ap.png", "ap_vs_instances.png", "pr_curves.png")
# Curves per panel: the best and the worst classes.
_CURVES = 6
# Key frames listed in the table of misses.
_MISSED_ROWS = 20


def summary_figures(metrics: Dict) -> Dict[str, float]:
    """The headline figures of ``metrics``: every ``frame_mAP@*`` and ``video_mAP@*`` entry, in its order."""
    return {k: v for k, v in metrics.items() if k.startswith(("frame_mAP@", "video_mAP@")) and v is not None}


def metric_label(key: str, metrics: Dict) -> str:
    """How a figure of ``metrics`` is named on the page ("frame-mAP@0.5, official protocol", ...)."""
    if key.endswith("_pyslowfast"):
        return key[: -len("_pyslowfast")].replace("_mAP", "-mAP") + ", PySlowFast protocol"
    label = key.replace("_mAP", "-mAP")
    if key.startswith("frame_mAP@") and f"{key}_pyslowfast" in metrics:
        label += ", official protocol"
    return label


def write_evaluation_report(out_dir: str, metrics: Dict, details: EvaluationDetails, *,
                            label_types: Optional[Dict[str, str]] = None, title: str = "Evaluation report",
                            subtitle: str = "", protocol: str = "") -> Dict[str, str]:
    """Write ``index.html`` and :data:`REPORT_FILES` into ``out_dir``.

    Args:
        metrics: as in ``metrics.json``: the ``frame_mAP@*`` / ``video_mAP@*``
            figures and ``"per_class"``: ``{name: AP or None}``.
        details: what the evaluation kept, for the protocol of ``metrics["per_class"]``.
        label_types: ``{class name: label_type}`` (e.g. ``PERSON_MOVEMENT``);
            classes without one are drawn grey, and with none at all no legend.
        title, subtitle: the page's heading and the line under it.
        protocol: the protocol of the per-class figures, named on the charts.

    Returns:
        ``{file name: path}`` of what was written (``index.html`` last).

    Raises:
        ValueError: ``metrics`` has no ``"per_class"``, or its classes are not ``details``'s.
    """
    per_class = metrics.get("per_class")
    if not isinstance(per_class, dict):
        raise ValueError("metrics have no 'per_class' AP")
    if list(per_class) != list(details.class_names):
        raise ValueError(f"the per-class AP names {len(per_class)} classes that are not the "
                         f"{len(details.class_names)} classes of the evaluation details")
    label_types = label_types or {}
    classes = _classes(per_class, details, label_types)
    scored = [c for c in classes if c["ap"] is not None]
    on = f" ({protocol} protocol)" if protocol else ""
    paths = {name: os.path.join(out_dir, name) for name in REPORT_FILES}
    typed = any(c["type"] != _NO_TYPE[0] for c in classes)
    _plot_per_class(paths["per_class_ap.png"], scored, typed, f"Per-class AP@0.5{on}")
    _plot_ap_vs_instances(paths["ap_vs_instances.png"], scored, typed)
    _plot_pr_curves(paths["pr_curves.png"], scored, details, on)

    figures = "".join(
        f'<div class="figure" data-key="{escape(k)}" data-value="{float(v)!r}"><div class="name">'
        f'{escape(metric_label(k, metrics))}</div><div class="value">{number(v)}</div></div>'
        for k, v in summary_figures(metrics).items())
    unscored = len(classes) - len(scored)
    no_gt = f" {unscored} classes without ground truth are not drawn." if unscored else ""
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(subtitle)}</p>' if subtitle else "",
        f'<div class="figures" id="summary">{figures}</div>',
        f"<h2>Per-class AP{escape(on)}</h2>",
        f'<p class="note">{len(scored)} classes with ground truth, best first.{no_gt}</p>',
        '<img src="per_class_ap.png" alt="per-class AP">',
        "<h2>AP and the number of ground-truth instances</h2>",
        '<p class="note">Ground-truth (actor, action) pairs of each class in the evaluated key frames.</p>',
        '<img src="ap_vs_instances.png" alt="AP against ground-truth instances">',
        "<h2>Precision-recall curves</h2>",
        f'<p class="note">The {min(_CURVES, (len(scored) + 1) // 2)} best and the worst classes by AP. '
        "Detections are ranked by score; the curve is the interpolated precision (the best precision at that "
        "recall or above), as VOC and AVA's evaluator integrate it.</p>",
        '<img src="pr_curves.png" alt="precision-recall curves">',
        _missed_section(details),
        "<h2>Per-class figures</h2>",
        table(["class", "action type", "AP", "ground-truth pairs", "detections scored"], (
            [text_cell(c["name"]), text_cell(c["type"] if c["type"] != _NO_TYPE[0] else "-"), number_cell(c["ap"]),
             f'<td class="num">{c["num_gt"]}</td>', f'<td class="num">{c["num_det"]}</td>']
            for c in sorted(classes, key=_best_first)), table_id="per-class"),
    ]
    paths["index.html"] = os.path.join(out_dir, "index.html")
    write_text(paths["index.html"], page(title, "\n".join(part for part in body if part)))
    return paths


def _classes(per_class: Dict, details: EvaluationDetails, label_types: Dict[str, str]) -> List[Dict]:
    classes = []
    for i, (name, ap) in enumerate(per_class.items()):
        kind = LABEL_TYPES.get(label_types.get(name, ""), _NO_TYPE)
        missing = ap is None or (isinstance(ap, float) and math.isnan(ap))
        classes.append({"name": name, "ap": None if missing else float(ap), "index": i, "type": kind[0],
                        "color": kind[1], "num_gt": int(details.num_groundtruth[i]),
                        "num_det": int(details.num_detections[i])})
    return classes


def _best_first(c: Dict):
    return (c["ap"] is None, -(c["ap"] or 0.0), c["name"])


def _type_legend(ax, classes: List[Dict], **kwargs) -> None:
    from matplotlib.patches import Patch  # matplotlib is heavy: loaded by the plotting functions only

    shown = {c["type"]: c["color"] for c in classes}
    order = [name for name, _ in LABEL_TYPES.values()] + [_NO_TYPE[0]]
    ax.legend(handles=[Patch(color=shown[t], label=t) for t in order if t in shown], frameon=False, **kwargs)


def _plot_per_class(path: str, classes: List[Dict], typed: bool, title: str) -> None:
    ordered = sorted(classes, key=_best_first)
    height = 1.3 + 0.24 * max(len(ordered), 1)
    fig = new_figure(9, height)
    ax = fig.subplots()
    rows = np.arange(len(ordered))
    ax.barh(rows, [c["ap"] for c in ordered], color=[c["color"] for c in ordered], height=0.75)
    for row, c in zip(rows, ordered):
        ax.text(c["ap"] + 0.005, row, f"{c['ap']:.3f}", va="center", fontsize=7)
    ax.set_yticks(rows, [c["name"] for c in ordered], fontsize=8)
    ax.set_ylim(len(ordered) - 0.5, -0.5)
    ax.set_xlim(0, 1.08)
    if ordered:
        mean = float(np.mean([c["ap"] for c in ordered]))
        ax.axvline(mean, color="#444", lw=0.8, ls="--")
        ax.text(mean, -0.6, f" mean {mean:.3f}", fontsize=8, va="bottom")
    ax.set_xlabel("AP@0.5")
    ax.set_title(title, fontsize=10, pad=14)
    ax.grid(axis="x", alpha=0.3)
    if typed:
        _type_legend(ax, ordered, loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_ap_vs_instances(path: str, classes: List[Dict], typed: bool) -> None:
    fig = new_figure(7.5, 4.8)
    ax = fig.subplots()
    counts = np.array([c["num_gt"] for c in classes], dtype=float)
    aps = np.array([c["ap"] for c in classes], dtype=float)
    ax.scatter(counts, aps, c=[c["color"] for c in classes], s=28, edgecolors="white", linewidths=0.5)
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("ground-truth instances (log scale)")
    ax.set_ylabel("AP@0.5")
    ax.grid(alpha=0.3, which="both")
    # Every name when few, else the extremes of AP and of frequency.
    if len(classes) <= 12:
        named = range(len(classes))
    else:
        by_ap, by_count = np.argsort(aps, kind="stable"), np.argsort(counts, kind="stable")
        named = sorted(set(by_ap[:3]) | set(by_ap[-3:]) | set(by_count[:2]) | set(by_count[-2:]))
    for i in named:
        ax.annotate(classes[i]["name"], (counts[i], aps[i]), xytext=(4, 3), textcoords="offset points", fontsize=7)
    if len(classes) >= 3 and np.ptp(counts) > 0 and np.ptp(aps) > 0:
        ax.set_title(f"AP against ground-truth instances (Spearman rank correlation "
                     f"{_spearman(counts, aps):.2f})", fontsize=10)
    else:
        ax.set_title("AP against ground-truth instances", fontsize=10)
    if typed:
        _type_legend(ax, classes, loc="best", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _plain_log_ticks(axis) -> None:
    """Ticks of a log axis at 1, 2, 5 x 10^k, written as plain numbers (2, 50, 1000)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # matplotlib: plotting only

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(spearmanr(x, y).statistic)


def _plot_pr_curves(path: str, classes: List[Dict], details: EvaluationDetails, on: str) -> None:
    ordered = sorted(classes, key=_best_first)
    # With fewer than twice the curves per panel, the better half goes left and the rest right.
    best = ordered[: min(_CURVES, (len(ordered) + 1) // 2)]
    worst = ordered[len(best):][-_CURVES:]
    fig = new_figure(11, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, chosen, what in ((axes[0], best, "best"), (axes[1], worst, "worst")):
        for c in chosen:
            recall, precision = details.recall[c["index"]], details.precision[c["index"]]
            if len(recall):
                # The interpolated curve: the best precision at this recall or above.
                envelope = np.maximum.accumulate(precision[::-1])[::-1]
                ax.step(np.r_[0.0, recall], np.r_[envelope[0], envelope], where="pre", lw=1.3,
                        label=f"{c['name']} (AP {c['ap']:.3f})")
            else:
                ax.plot([], [], lw=1.3, label=f"{c['name']} (AP {c['ap']:.3f}, no detection)")
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.grid(alpha=0.3)
        ax.set_title(f"The {len(chosen)} {what} classes{on}", fontsize=10)
        if chosen:
            ax.legend(fontsize=7, loc="lower left", frameon=False)
    axes[0].set_ylabel("precision")
    fig.tight_layout()
    save_figure(fig, path)


def _missed_section(details: EvaluationDetails) -> str:
    total_pairs, total_missed = int(details.frame_pairs.sum()), int(details.frame_missed.sum())
    frames_missing = int((details.frame_missed > 0).sum())
    unit = details.time_unit
    share = f" ({100.0 * total_missed / total_pairs:.1f}%)" if total_pairs else ""
    rows = [[text_cell(r["video"]), f'<td class="num">{r["time"]}</td>', f'<td class="num">{r["missed"]}</td>',
             f'<td class="num">{r["pairs"]}</td>'] for r in details.most_missed(_MISSED_ROWS)]
    return "\n".join([
        "<h2>Key frames with the most missed (actor, action) pairs</h2>",
        '<p class="note">A ground-truth (actor box, action) pair is <b>missed</b> when no detection of that '
        "action was matched to it at IoU &ge; 0.5, at any score among the evaluated detections (the false "
        "negatives at the lowest score threshold). An actor with several actions counts once per action.</p>",
        f'<p class="note" id="missed-total">{total_missed} of {total_pairs} ground-truth pairs missed{share}, '
        f"in {frames_missing} of {len(details.frame_pairs)} {'key frames' if unit == 'second' else 'frames'}.</p>",
        table(["video", unit, "missed pairs", "ground-truth pairs"], rows, table_id="missed") if rows else "",
    ])


def report_folder_problem(path: Optional[str]) -> str:
    """Why ``--report path`` cannot be written ("" if it can, or is not asked for)."""
    if not path:
        return ""
    if os.path.exists(path) and not os.path.isdir(path):
        return f"--report {path} exists and is not a folder"
    existing = path
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing or "."):
        return f"--report {path}: {existing} is not a folder"
    if not os.access(existing or ".", os.W_OK | os.X_OK):
        return f"--report {path}: {existing or '.'} is not writable"
    return ""
