"""Readers for AVA label maps, exclusion files and box CSVs (numpy/stdlib only).

Both label-map dialects are accepted:

* the 80-class training list::

      label {
        name: "bend/bow (at the waist)"
        label_id: 1
        label_type: PERSON_MOVEMENT
      }

* the 60-class ActivityNet evaluation list::

      item {
        name: "bend/bow (at the waist)"
        id: 1
      }
"""
import csv
import io
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Tuple

import numpy as np

__all__ = ["AVABoxRows", "read_labelmap", "read_exclusions", "read_box_csv"]

_BLOCK_START = re.compile(r"^\s*(label|item)\s*\{\s*$")
_FIELD = re.compile(r'^\s*(\w+)\s*:\s*(.+?)\s*$')


def read_labelmap(path: str) -> Tuple[List[Dict], Set[int]]:
    """Read an AVA label map in either pbtxt dialect.

    Args:
        path: the ``.pbtxt`` file.

    Returns:
        categories: ``[{"id": int, "name": str}, ...]`` in file order.
        class_ids: the set of ids, i.e. the evaluation whitelist.

    Raises:
        ValueError: naming the file and line of a malformed entry, a duplicate
            id, or a file with no entry at all.
    """
    categories: List[Dict] = []
    current = None  # (start line, fields) of the open block
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if current is None:
                if not _BLOCK_START.match(line):
                    raise ValueError(f"{path}:{lineno}: expected 'label {{' or 'item {{', got {stripped!r}")
                current = (lineno, {})
                continue
            if stripped == "}":
                start, fields = current
                categories.append(_category_from_fields(path, start, fields))
                current = None
                continue
            match = _FIELD.match(line)
            if match is None:
                raise ValueError(f"{path}:{lineno}: cannot parse {stripped!r}")
            current[1][match.group(1)] = (lineno, match.group(2))
    if current is not None:
        raise ValueError(f"{path}:{current[0]}: block is never closed with '}}'")
    if not categories:
        raise ValueError(f"{path}: no 'label' or 'item' entry found")
    seen: Dict[int, str] = {}
    for cat in categories:
        if cat["id"] in seen:
            raise ValueError(f"{path}: class id {cat['id']} appears twice ({seen[cat['id']]!r}, {cat['name']!r})")
        seen[cat["id"]] = cat["name"]
    return categories, set(seen)


def _category_from_fields(path: str, start: int, fields: Dict) -> Dict:
    if "name" not in fields:
        raise ValueError(f"{path}:{start}: entry has no 'name'")
    id_key = "label_id" if "label_id" in fields else "id"
    if id_key not in fields:
        raise ValueError(f"{path}:{start}: entry has neither 'label_id' nor 'id'")
    id_line, id_text = fields[id_key]
    try:
        class_id = int(id_text)
    except ValueError:
        raise ValueError(f"{path}:{id_line}: {id_key} {id_text!r} is not an integer") from None
    name = fields["name"][1]
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return {"id": class_id, "name": name}


def read_exclusions(path: str) -> Set[Tuple[str, int]]:
    """Read an AVA excluded-timestamps CSV (``video_id,timestamp`` rows).

    Returns:
        The excluded key frames as ``(video_id, timestamp)`` with an integer
        timestamp in seconds.

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    excluded: Set[Tuple[str, int]] = set()
    with open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'video_id,timestamp', got {row}")
            try:
                timestamp = int(row[1])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: timestamp {row[1]!r} is not an integer") from None
            excluded.add((row[0].strip(), timestamp))
    return excluded


@dataclass
class AVABoxRows:
    """The rows of an AVA box CSV whose action id is evaluated, in file order.

    Attributes:
        keys: the distinct key frames ``(video_id, timestamp)`` of the file.
        key: ``(R,)`` int64, index into ``keys`` of each row.
        boxes: ``(R, 4)`` float64 ``x1, y1, x2, y2`` as written (normalized).
        action_id: ``(R,)`` int64.
        score: ``(R,)`` float64; the 8th column, or 1.0 for 7-column rows. As in
            the official reader, for a ground-truth file this is the person id.
        line: ``(R,)`` int64, 1-based line number of each row.
        skipped: ``{action_id: rows}`` left out because the id is not evaluated.
    """

    keys: List[Tuple[str, int]]
    key: np.ndarray
    boxes: np.ndarray
    action_id: np.ndarray
    score: np.ndarray
    line: np.ndarray
    skipped: Dict[int, int]


# Zero bytes after each parsed chunk, so short fields can be copied as fixed-width windows.
_PAD = 64


def read_box_csv(path: str, class_whitelist: Optional[Iterable[int]] = None,
                 chunk_bytes: int = 1 << 26) -> AVABoxRows:
    """Read an AVA ground-truth or detection CSV.

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]`` or
    ``video_id, timestamp`` (a key frame without boxes). Numbers follow Python's
    ``int``/``float`` syntax, as in the official reader. The file is parsed in
    chunks with vectorized numpy, so a detection file of AVA-val size (tens of
    millions of rows) reads in seconds; a file with quoted fields falls back to
    the ``csv`` module.

    Args:
        path: the CSV file.
        class_whitelist: evaluated action ids; rows with other ids are counted
            in ``skipped`` and left out. ``None`` keeps every row.
        chunk_bytes: bytes parsed at once (bounds the memory used).

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    whitelist = None if class_whitelist is None else np.array(sorted(class_whitelist), dtype=np.int64)
    keys: List[Tuple[str, int]] = []
    key_index: Dict[Tuple[str, int], int] = {}
    parts = []
    with open(path, "rb") as f:
        head = f.read(chunk_bytes)
        if b'"' in head or _has_quote(f, chunk_bytes):
            f.seek(0)
            parts.append(_parse_quoted(path, f, keys, key_index))
        else:
            f.seek(0)
            first_line, rest = 1, b""
            while True:
                data = f.read(chunk_bytes)
                buf = rest + data
                if not data:
                    if buf:
                        parts.append(_parse_chunk(path, buf + b"\n", first_line, keys, key_index))
                    break
                cut = buf.rfind(b"\n") + 1
                buf, rest = buf[:cut], buf[cut:]
                if buf:
                    parts.append(_parse_chunk(path, buf, first_line, keys, key_index))
                    first_line += buf.count(b"\n")
    return _convert(path, parts, keys, whitelist)


def _has_quote(f, chunk_bytes: int) -> bool:
    while True:
        data = f.read(chunk_bytes)
        if not data:
            return False
        if b'"' in data:
            return True


def _parse_chunk(path: str, buf: bytes, first_line: int, keys, key_index) -> Dict:
    """Split whole lines into per-row field strings (numpy ``S`` arrays)."""
    if b"\r" in buf:  # universal newlines, as the official reader's text-mode file
        buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    b = np.frombuffer(buf + bytes(_PAD), dtype=np.uint8)
    ends = np.flatnonzero(b == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    commas = np.flatnonzero(b == 44)
    ncomma = np.bincount(np.searchsorted(ends, commas), minlength=len(ends))
    first_comma = np.cumsum(ncomma) - ncomma
    lines = np.arange(first_line, first_line + len(ends), dtype=np.int64)
    empty = ends == starts
    bad = ~empty & (ncomma != 1) & (ncomma != 6) & (ncomma != 7)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{path}:{lines[i]}: expected 2, 7 or 8 comma-separated fields, got {ncomma[i] + 1}")
    rows = np.flatnonzero(ncomma >= 6)
    only_key = np.flatnonzero(ncomma == 1)
    # Key frames without boxes still need a valid key.
    _key_ids(path, _strings(b, starts[only_key], ends[only_key]), lines[only_key], keys, key_index)
    c = commas[first_comma[rows][:, None] + np.arange(6)]  # (R, 6): the first six commas of each row
    has_score = ncomma[rows] == 7
    action_end = np.where(has_score, commas[first_comma[rows] + np.minimum(ncomma[rows] - 1, 6)], ends[rows])
    out = {
        "line": lines[rows],
        "key": _key_ids(path, _strings(b, starts[rows], c[:, 1]), lines[rows], keys, key_index),
        "coords": [_strings(b, c[:, k] + 1, c[:, k + 1]) for k in range(1, 5)],
        "action": _strings(b, c[:, 5] + 1, action_end),
        "has_score": has_score,
        "score": _strings(b, action_end[has_score] + 1, ends[rows][has_score]),
    }
    return out


def _strings(b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Byte ranges ``[start, end)`` of ``b`` as a NUL-padded ``S`` array."""
    lengths = end - start
    width = max(int(lengths.max()), 1) if len(lengths) else 1
    # One row copy per field from a sliding-window view, instead of one index per byte.
    padded = b if width <= _PAD else np.concatenate([b, np.zeros(width, dtype=np.uint8)])
    windows = np.lib.stride_tricks.as_strided(padded, shape=(len(padded) - width + 1, width), strides=(1, 1))
    mat = windows[start]
    if (lengths != width).any():
        mat[np.arange(width) >= lengths[:, None]] = 0
    return mat.view(f"S{width}").ravel()


def _key_ids(path: str, fields: np.ndarray, lines: np.ndarray, keys, key_index) -> np.ndarray:
    """Map ``video_id,timestamp`` byte strings to key indices, one lookup per run of equal keys."""
    if len(fields) == 0:
        return np.zeros(0, dtype=np.int64)
    heads = np.ones(len(fields), dtype=bool)
    heads[1:] = fields[1:] != fields[:-1]
    head_ids = []
    for text, line in zip(fields[heads].tolist(), lines[heads].tolist()):
        try:
            video_id, timestamp = text.decode("utf-8").split(",", 1)
            key = (video_id, int(timestamp))
        except ValueError:
            raise ValueError(f"{path}:{line}: bad video_id,timestamp {text!r}") from None
        if key not in key_index:
            key_index[key] = len(keys)
            keys.append(key)
        head_ids.append(key_index[key])
    return np.array(head_ids, dtype=np.int64)[np.cumsum(heads) - 1]


def _parse_quoted(path: str, f, keys, key_index) -> Dict:
    """Slow path for files with quoted fields: the ``csv`` module splits rows."""
    reader = csv.reader(io.TextIOWrapper(f, encoding="utf-8", newline=None))
    key_fields, key_lines, fields, lines, has_score = [], [], [], [], []
    for row in reader:
        if not row:
            continue
        if len(row) not in (2, 7, 8):
            raise ValueError(f"{path}:{reader.line_num}: expected 2, 7 or 8 comma-separated fields, got {len(row)}")
        key_fields.append(f"{row[0]},{row[1]}".encode("utf-8"))
        key_lines.append(reader.line_num)
        if len(row) > 2:
            fields.append([text.encode("utf-8") for text in row[2:] + [""] * (8 - len(row))])
            lines.append(reader.line_num)
            has_score.append(len(row) == 8)
    key_fields = np.array(key_fields, dtype=bytes)
    key_lines = np.array(key_lines, dtype=np.int64)
    is_row = np.isin(key_lines, lines)
    cols = np.array(fields, dtype=bytes).reshape(-1, 6)  # x1, y1, x2, y2, action_id, score
    has_score = np.array(has_score, dtype=bool)
    return {
        "line": np.array(lines, dtype=np.int64),
        "key": _key_ids(path, key_fields, key_lines, keys, key_index)[is_row],
        "coords": [cols[:, k] for k in range(4)],
        "action": cols[:, 4],
        "has_score": has_score,
        "score": cols[has_score, 5],
    }


def _convert(path: str, parts: List[Dict], keys, whitelist: Optional[np.ndarray]) -> AVABoxRows:
    """Parse numbers (Python ``int``/``float`` syntax) and apply the whitelist."""
    line = _cat([p["line"] for p in parts], np.int64)
    action = _cat([_numbers(path, p["action"], p["line"], np.int64, "action_id") for p in parts], np.int64)
    key = _cat([p["key"] for p in parts], np.int64)
    boxes = np.stack([_cat([_numbers(path, p["coords"][k], p["line"], np.float64, "coordinate") for p in parts],
                           np.float64) for k in range(4)], axis=1)
    # As in the official reader, only evaluated rows need a valid score.
    score = np.ones(len(line), dtype=np.float64)
    offset = 0
    keep = np.ones(len(line), dtype=bool) if whitelist is None else np.isin(action, whitelist)
    for p in parts:
        n = len(p["line"])
        rows = np.flatnonzero(p["has_score"])
        kept = keep[offset + rows]
        score[offset + rows[kept]] = _numbers(path, p["score"][kept], p["line"][rows[kept]], np.float64, "score")
        offset += n
    ids, counts = np.unique(action[~keep], return_counts=True)
    return AVABoxRows(keys=keys, key=key[keep], boxes=boxes[keep], action_id=action[keep], score=score[keep],
                      line=line[keep], skipped=dict(zip(ids.tolist(), counts.tolist())))


def _cat(arrays: List[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)


def _numbers(path: str, strings: np.ndarray, lines: np.ndarray, dtype, what: str) -> np.ndarray:
    """``S`` strings to numbers with Python's syntax; a bad one names its line."""
    try:
        return strings.astype(dtype)
    except (ValueError, OverflowError):
        convert = float if dtype == np.float64 else int
        for text, line in zip(strings.tolist(), lines.tolist()):
            try:
                convert(text)
            except ValueError:
                raise ValueError(f"{path}:{line}: {what} {text!r} is not a number") from None
        raise
