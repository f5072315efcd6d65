"""The demo page: ``index.html`` beside ``annotated.mp4``, playing it over an
interactive timeline of the tracks and their action segments.

The page needs no server and fetches nothing: the tracks (``tracks.json``'s
document) are embedded in it, and its script draws the timeline as SVG, moves
a cursor with playback, seeks to a segment's start on a click and shows a
segment's label, time span and mean score on hover.
"""
import json
import os
from typing import Dict, List

from .html import escape, page, table, write_text

__all__ = ["write_demo_page", "palette"]

# matplotlib's tab10 and tab20, the colours of timeline.png (action id j + 1 -> colour j mod N).
_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]
_TAB20 = ["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd",
          "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d",
          "#17becf", "#9edae5"]

_STYLE = """
video { display: block; width: 100%; max-width: 640px; background: #000; }
#timeline { margin-top: 10px; position: relative; }
#timeline svg { width: 100%; display: block; user-select: none; }
#timeline .track { fill: #e6e6e6; }
#timeline .segment { cursor: pointer; stroke: none; }
#timeline .segment:hover { stroke: #000; stroke-width: 1.5; }
#timeline .cursor { stroke: #d00; stroke-width: 2; pointer-events: none; }
#timeline .axis text, #timeline .row-label { font-size: 11px; fill: #555; }
#timeline .axis line { stroke: #ccc; }
#tooltip { position: absolute; pointer-events: none; background: rgba(30, 30, 30, 0.92); color: #fff;
           padding: 5px 8px; border-radius: 4px; font-size: 12px; white-space: nowrap; z-index: 2; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
a.seek { text-decoration: none; border-bottom: 1px dotted #888; color: inherit; }
"""

# Draws the timeline from the embedded tracks and wires it to the player.
_SCRIPT = r"""
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("tracks-data").textContent);
  const palette = JSON.parse(document.getElementById("palette-data").textContent);
  const video = document.getElementById("player");
  const box = document.getElementById("timeline");
  const tooltip = document.getElementById("tooltip");
  const NS = "http://www.w3.org/2000/svg";
  const duration = Math.max(doc.duration, 1e-3);
  const W = 1000, LEFT = 52, RIGHT = 24, AXIS = 22, ROW = 26;
  const tracks = doc.tracks.slice().sort((a, b) => a.id - b.id);
  const H = AXIS + ROW * Math.max(tracks.length, 1) + 4;
  const x = (t) => LEFT + (Math.min(Math.max(t, 0), duration) / duration) * (W - LEFT - RIGHT);
  const timeAt = (px) => Math.min(Math.max((px - LEFT) / (W - LEFT - RIGHT), 0), 1) * duration;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  const svg = el("svg", {id: "timeline-svg", viewBox: `0 0 ${W} ${H}`, role: "img",
                         "aria-label": "tracks and action segments over time"});
  const axis = el("g", {class: "axis"}, svg);
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  const step = steps.find((s) => duration / s <= 12) || 1200;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    el("line", {x1: x(t), x2: x(t), y1: AXIS - 4, y2: H}, axis);
    el("text", {x: x(t), y: AXIS - 8, "text-anchor": "middle"}, axis).textContent = `${+t.toFixed(1)} s`;
  }
  function seek(t) {
    video.currentTime = Math.min(Math.max(t, 0), Math.max((video.duration || duration) - 1e-3, 0));
    update();
  }
  function showTip(event, seg, track) {
    tooltip.textContent = `${seg.label}: ${seg.start.toFixed(2)}\u2013${seg.end.toFixed(2)} s, ` +
                          `mean score ${seg.mean_score.toFixed(2)} (track #${track.id})`;
    const area = box.getBoundingClientRect();
    tooltip.style.left = `${event.clientX - area.left + 12}px`;
    tooltip.style.top = `${event.clientY - area.top + 14}px`;
    tooltip.hidden = false;
  }
  tracks.forEach((track, row) => {
    const y = AXIS + row * ROW;
    el("text", {class: "row-label", x: 6, y: y + ROW / 2 + 4}, svg).textContent = `#${track.id}`;
    el("rect", {class: "track", x: x(track.start), y: y + 2, width: Math.max(x(track.end) - x(track.start), 1),
                height: ROW - 4}, svg);
    const lanes = [...new Set(track.segments.map((s) => s.action_id))].sort((a, b) => a - b);
    const laneH = (ROW - 8) / Math.max(lanes.length, 1);
    for (const seg of track.segments) {
      const rect = el("rect", {
        class: "segment", x: x(seg.start), y: y + 4 + lanes.indexOf(seg.action_id) * laneH,
        width: Math.max(x(seg.end) - x(seg.start), 2), height: Math.max(laneH - 1, 2),
        fill: palette[(seg.action_id - 1) % palette.length], "data-start": seg.start, "data-end": seg.end,
        "data-label": seg.label, "data-track": track.id}, svg);
      rect.addEventListener("click", (event) => { event.stopPropagation(); seek(seg.start); });
      rect.addEventListener("mousemove", (event) => showTip(event, seg, track));
      rect.addEventListener("mouseleave", () => { tooltip.hidden = true; });
    }
  });
  const cursor = el("line", {class: "cursor", x1: x(0), x2: x(0), y1: 0, y2: H}, svg);
  svg.addEventListener("click", (event) => {
    const point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    seek(timeAt(point.matrixTransform(svg.getScreenCTM().inverse()).x));
  });
  box.insertBefore(svg, tooltip);

  function update() {
    const px = x(video.currentTime || 0);
    cursor.setAttribute("x1", px);
    cursor.setAttribute("x2", px);
  }
  function follow() {
    update();
    if (!video.paused && !video.ended) requestAnimationFrame(follow);
  }
  video.addEventListener("play", () => requestAnimationFrame(follow));
  for (const name of ["timeupdate", "seeked", "loadedmetadata", "pause"]) video.addEventListener(name, update);
  for (const link of document.querySelectorAll("a.seek")) {
    link.addEventListener("click", (event) => { event.preventDefault(); seek(parseFloat(link.dataset.start)); });
  }
  update();
})();
"""


def palette(num_classes: int) -> List[str]:
    """The colours of action ids 1..N, as timeline.png draws them."""
    return _TAB10 if num_classes <= 10 else _TAB20


def _embedded_json(obj) -> str:
    """JSON that cannot end its ``<script>`` element early (``<``, ``>`` and ``&`` as escapes)."""
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_demo_page(path: str, document: Dict, video: str = "annotated.mp4") -> None:
    """Write the demo page of one ``woo demo`` run.

    Args:
        path: where ``index.html`` goes (the page finds ``video`` beside its final name).
        document: the content of tracks.json: ``video``, ``duration``, ``width``,
            ``height``, ``fps``, ``key_stride``, ``class_names`` and ``tracks``
            (``id``, ``start``, ``end``, ``key_frames``, ``segments`` with
            ``label``, ``action_id``, ``start``, ``end``, ``mean_score``).
        video: the player's file name, relative to the page.
    """
    names = document["class_names"]
    colors = palette(len(names))
    tracks = sorted(document["tracks"], key=lambda t: t["id"])
    used = sorted({s["action_id"] for t in tracks for s in t["segments"]})
    legend = "".join(f'<span><i style="background:{colors[(a - 1) % len(colors)]}"></i>{escape(names[a - 1])}</span>'
                     for a in used)
    rows = []
    for track in tracks:
        actions = ", ".join(
            f'<a href="#" class="seek" data-start="{s["start"]!r}" title="play from {s["start"]:.2f} s">'
            f'{escape(s["label"])} {s["start"]:.1f}&ndash;{s["end"]:.1f} s ({s["mean_score"]:.2f})</a>'
            for s in track["segments"]) or "no action above the score threshold"
        scores = [k["score"] for k in track["key_frames"]]
        rows.append([f'<td><a href="#" class="seek" data-start="{track["start"]!r}">#{track["id"]}</a></td>',
                     f'<td class="num">{track["start"]:.1f}&ndash;{track["end"]:.1f} s</td>',
                     f'<td class="num">{len(track["key_frames"])}</td>',
                     f'<td class="num">{sum(scores) / max(len(scores), 1):.2f}</td>', f"<td>{actions}</td>"])
    name = os.path.basename(str(document.get("video", "")).rstrip("/\\")) or "demo"
    stride = document.get("key_stride")
    every = f"key frames every {stride:g} s" if stride else "every frame a key frame"
    body = "\n".join([
        f"<h1>{escape(name)}</h1>",
        f'<p class="sub">{document["duration"]:.1f} s, {document["width"]}&times;{document["height"]}, '
        f'{document["fps"]:.2f} FPS, {len(tracks)} tracks, {escape(every)}</p>',
        f'<video id="player" src="{escape(video)}" controls muted playsinline preload="auto"></video>',
        f'<p class="legend" id="legend">{legend}</p>',
        '<div id="timeline"><div id="tooltip" hidden></div></div>',
        '<p class="note">Click a segment (or the timeline) to play from there; hover a segment for its label, '
        "time span and mean score. Bars: grey while a track is seen, coloured where an action's score stays "
        "above the demo's threshold.</p>",
        "<h2>Tracks</h2>",
        table(["track", "seen", "key frames", "mean actor score", "actions (span, mean score)"], rows,
              table_id="tracks") if rows else "<p>No track.</p>",
        f'<script type="application/json" id="tracks-data">{_embedded_json(document)}</script>',
        f'<script type="application/json" id="palette-data">{_embedded_json(colors)}</script>',
    ])
    write_text(path, page(f"WOO demo: {name}", body, style=_STYLE, script=_SCRIPT))
