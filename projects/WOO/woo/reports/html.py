"""What the report pages share: the HTML skeleton and its style, number cells,
tables, atomic writes of text and PNG figures (matplotlib's Agg canvas)."""
import html
import math
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image

from woo.formats.atomic import atomic_write

__all__ = ["escape", "number", "number_cell", "text_cell", "table", "page", "write_text", "new_figure", "save_figure",
           "read_png"]

escape = html.escape

# Decimals of the AP and mAP figures shown (the log and `woo ava-eval` print 4 too).
DECIMALS = 4

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.sub { color: #666; margin-top: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.figure .name { color: #555; font-size: 12px; } .figure .value { font-size: 24px; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 3px 10px; text-align: left; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pos { color: #1a7f37; } td.neg { color: #c62828; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 13px; }
"""


def number(value: Optional[float], decimals: int = DECIMALS, signed: bool = False) -> str:
    """``value`` as shown: fixed decimals, "-" for None or NaN (no ground truth)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def number_cell(value: Optional[float], decimals: int = DECIMALS, signed: bool = False, tint: bool = False) -> str:
    """A right-aligned ``<td>`` whose text is :func:`number` and whose ``data-value`` is the exact figure
    (``repr``, or "null"), so that a reader (or a test) gets the number itself."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    classes = "num"
    if tint and not missing and value != 0:
        classes += " pos" if value > 0 else " neg"
    exact = "null" if missing else repr(float(value))
    return f'<td class="{classes}" data-value="{exact}">{number(value, decimals, signed)}</td>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str = "") -> str:
    """A ``<table>``: ``headers`` are escaped here; each row's cells are HTML already (``<td>...</td>``)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def text_cell(text) -> str:
    return f"<td>{escape(str(text))}</td>"


def page(title: str, body: str, style: str = "", script: str = "") -> str:
    """A whole HTML document; nothing in it is fetched from elsewhere."""
    script_block = f"<script>\n{script}\n</script>\n" if script else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f"<style>{_STYLE}{style}</style>\n</head>\n<body>\n{body}\n{script_block}</body>\n</html>\n")


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    with atomic_write(path) as f:
        f.write(text)


def new_figure(width: float, height: float):
    """A matplotlib Figure on an Agg canvas (no pyplot, so no global state and no display needed)."""
    # matplotlib is heavy (about a second to import): only the plotting functions load it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str) -> None:
    """Write ``fig`` as a PNG to ``path``, atomically."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")


def read_png(path: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a PNG (e.g. for TensorBoard's ``add_image``)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))

