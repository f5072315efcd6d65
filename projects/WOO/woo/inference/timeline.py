"""The timeline picture: one row per track, its action segments as coloured bars over time."""
from typing import Dict, List, Sequence

__all__ = ["plot_timeline"]


def plot_timeline(path: str, tracks: List[Dict], class_names: Sequence[str], duration: float,
                  max_tracks: int = 40) -> None:
    """Write a PNG timeline of ``tracks`` (as in tracks.json) to ``path``.

    Each track is a row (grey while the actor is seen), its segments stacked
    inside the row as bars coloured by action. With more than ``max_tracks``
    tracks the longest ones are drawn.

    Args:
        tracks: ``[{"id", "start", "end", "segments": [{"action_id", "start", "end"}]}]``.
        class_names: name of action id j + 1 at position j.
        duration: video length in seconds (the x axis).
    """
    # matplotlib takes about a second to import: only a demo that draws its timeline pays for it.
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into files
    from matplotlib import pyplot as plt  # noqa: E402  (after the backend is chosen)
    from matplotlib.patches import Patch  # noqa: E402

    shown = sorted(sorted(tracks, key=lambda t: t["start"] - t["end"])[:max_tracks], key=lambda t: t["id"])
    colors = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    used = sorted({s["action_id"] for t in shown for s in t["segments"]})
    height = 1.2 + 0.45 * max(len(shown), 1)
    fig, ax = plt.subplots(figsize=(10, height), dpi=100)
    for row, track in enumerate(shown):
        ax.broken_barh([(track["start"], max(track["end"] - track["start"], 1e-3))], (row - 0.45, 0.9),
                       facecolors="#e6e6e6")
        lanes = sorted({s["action_id"] for s in track["segments"]})
        lane_h = 0.8 / max(len(lanes), 1)
        for s in track["segments"]:
            lane = lanes.index(s["action_id"])
            ax.broken_barh([(s["start"], max(s["end"] - s["start"], 1e-3))],
                           (row - 0.4 + lane * lane_h, lane_h * 0.9),
                           facecolors=colors((s["action_id"] - 1) % colors.N))
    ax.set_yticks(range(len(shown)), [f"#{t['id']}" for t in shown])
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_xlim(0, max(duration, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("track")
    ax.grid(axis="x", alpha=0.3)
    if used:
        handles = [Patch(color=colors((a - 1) % colors.N), label=class_names[a - 1]) for a in used]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    title = f"{len(tracks)} tracks" + (f" (the {len(shown)} longest shown)" if len(shown) < len(tracks) else "")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
