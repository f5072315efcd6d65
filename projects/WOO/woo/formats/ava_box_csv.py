"""The reader of AVA box CSVs (ground truth and detections): fast, exact, numpy only.

Values are bit-identical to ``float(text)``; the rows kept, their order and
their line numbers are those the official ActivityNet reader would see.

``pyarrow.csv`` was measured against this parser on the 2.4 GB detection CSV of
``benchmarks/ava_eval.py`` (one core, CPU time): its parse, conversion to numpy,
whitelist and key mapping alone took 13.0 s (10.7 s with its threads), this
whole read with the official protocol's selection 13.2 s. It is not faster, and
it would still need line numbers (its conversion errors name none), rows of 2
or 7 fields, the selection and the checks, so this parser stays.
"""
import csv
import io
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

__all__ = ["AVABoxRows", "read_box_csv"]


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


# UTF-8 byte-order mark, which some editors write at the start of a CSV.
_BOM = b"\xef\xbb\xbf"
# Zero bytes after each parsed chunk, so short fields can be copied as fixed-width windows.
_PAD = 64
# Numbers of at most 15 digits and one dot are parsed from their bytes: the digits form an
# integer below 2**53 and the power of ten is exact, so one float64 division rounds the value
# exactly as float(text) does. Other forms (signs, exponents, spaces, ...) go to numpy's parser.
_FAST_WIDTH = 16
_POW10 = np.array([float(10 ** k) for k in range(_FAST_WIDTH)])


# Names of the coordinate columns in error messages.
_COORDINATES = ("x1", "y1", "x2", "y2")


@dataclass
class _Checks:
    """What a read checks beyond the format, and how it names the 8th column."""

    finite_scores: bool
    last_column: str


class _Quoted(Exception):
    """The file has a quote: it is read again with the ``csv`` module."""


class _Ungrouped(Exception):
    """A key frame's rows are not contiguous: the file is read again without ``select``."""


def read_box_csv(path: str, class_whitelist: Optional[Iterable[int]] = None, chunk_bytes: int = 1 << 20,
                 select: Optional[Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = None,
                 finite_scores: bool = False, last_column: str = "score") -> AVABoxRows:
    """Read an AVA ground-truth or detection CSV.

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]`` or
    ``video_id, timestamp`` (a key frame without boxes); blank lines are
    skipped. Numbers follow Python's ``int``/``float`` syntax and give the same
    values, as in the official reader. The file is parsed in chunks with
    vectorized numpy, so a detection file of AVA-val size (tens of millions of
    rows) reads in seconds; a file with quoted fields falls back to the ``csv``
    module.

    Args:
        path: the CSV file.
        class_whitelist: evaluated action ids; rows with other ids are counted
            in ``skipped`` and left out. ``None`` keeps every row.
        chunk_bytes: bytes parsed at once (bounds the memory used; small
            chunks reuse memory instead of faulting in fresh pages).
        select: optional ``select(key, score, nan_box) -> keep`` (``(R,)``
            arrays of whole key frames, ``nan_box`` flags a NaN coordinate):
            the rows a later step needs. Applied while reading when each key
            frame's evaluated rows are contiguous (else to all rows at the
            end), so that only the kept rows are held in memory.
        finite_scores: a NaN or infinite score of an evaluated row is an error
            (detection files; the official evaluator would rank NaN first).
        last_column: name of the 8th column in error messages ("score" in
            detection files, "person_id" in ground truth).

    Raises:
        ValueError: naming the file and line of a malformed row.
    """
    whitelist = None if class_whitelist is None else np.array(sorted(class_whitelist), dtype=np.int64)
    checks = _Checks(finite_scores=finite_scores, last_column=last_column)
    keys: List[Tuple[str, int]] = []
    key_index: Dict[Tuple[str, int], int] = {}
    try:
        try:
            parts = _read_chunks(path, chunk_bytes, keys, key_index, whitelist, select, checks)
        except _Ungrouped:
            keys.clear()
            key_index.clear()
            parts = _read_chunks(path, chunk_bytes, keys, key_index, whitelist, None, checks)
    except _Quoted:
        keys.clear()
        key_index.clear()
        with open(path, "rb") as f:
            parts = [_parse_quoted(path, f, keys, key_index, whitelist, checks)]
    if select is not None and (len(parts) != 1 or not parts[0].get("selected")):
        part = _join(parts)
        keep = select(part["key"], part["score"], _nan_box(part["boxes"]))
        # The first row of each key frame stays: it fixes the order in which key frames first appear.
        heads = _run_starts(part["key"])
        keep[heads[np.unique(part["key"][heads], return_index=True)[1]]] = True
        parts = [_subset(part, np.flatnonzero(keep))]
    skipped: Dict[int, int] = {}
    for part in parts:
        for action_id, count in zip(*(a.tolist() for a in np.unique(part["skipped"], return_counts=True))):
            skipped[action_id] = skipped.get(action_id, 0) + count
    return AVABoxRows(keys=keys, key=_cat(parts, "key", np.int64), boxes=_cat(parts, "boxes", np.float64, (0, 4)),
                      action_id=_cat(parts, "action", np.int64), score=_cat(parts, "score", np.float64),
                      line=_cat(parts, "line", np.int64), skipped=dict(sorted(skipped.items())))


def _read_chunks(path: str, chunk_bytes: int, keys, key_index, whitelist, select, checks) -> List[Dict]:
    """Parse the file chunk by chunk; with ``select``, keep only selected rows of finished key frames."""
    parts: List[Dict] = []
    pending = None  # rows of the key frame that may go on in the next chunk
    finished = np.zeros(0, dtype=bool)  # key frames whose rows have all been seen
    with open(path, "rb") as f:
        first_line, rest = 1, b""
        data = f.read(max(chunk_bytes, len(_BOM)))
        if data.startswith(_BOM):
            data = data[len(_BOM):] or f.read(chunk_bytes)
        while True:
            buf = rest + data
            last = not data
            if last:
                buf, rest = (buf + b"\n" if buf else buf), b""
            else:
                cut = buf.rfind(b"\n") + 1
                buf, rest = buf[:cut], buf[cut:]
            if buf:
                part = _parse_chunk(path, buf, first_line, keys, key_index, whitelist, checks)
                first_line += part["num_lines"]
                if select is not None:
                    if pending is not None:
                        part = _join([pending, part])
                    finished = np.r_[finished, np.zeros(len(keys) - len(finished), dtype=bool)]
                    part, pending = _select_finished(part, finished, select, last)
                parts.append(part)
            if last:
                break
            data = f.read(chunk_bytes)
    if pending is not None:
        parts.append(_select_finished(pending, finished, select, True)[0])
    if select is not None:
        parts = [_join(parts)]
        parts[0]["selected"] = True
    return parts


def _select_finished(part: Dict, finished: np.ndarray, select, last: bool):
    """Apply ``select`` to the key frames of ``part`` that end in it; the last one may go on unless ``last``."""
    key = part["key"]
    heads = _run_starts(key)
    if finished[key].any() or len(np.unique(key[heads])) != len(heads):
        raise _Ungrouped
    going_on = np.zeros(len(key), dtype=bool) if last or len(key) == 0 else key == key[-1]
    done = np.flatnonzero(~going_on)
    finished[key[done]] = True
    keep = select(key[done], part["score"][done], _nan_box(part["boxes"][done]))
    pending = _subset(part, np.flatnonzero(going_on), skipped=False) if going_on.any() else None
    return _subset(part, done[keep]), pending


def _run_starts(key: np.ndarray) -> np.ndarray:
    """Positions where a run of equal keys starts."""
    return np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)


def _nan_box(boxes: np.ndarray) -> np.ndarray:
    return np.isnan(boxes[:, 0] + boxes[:, 1] + boxes[:, 2] + boxes[:, 3])


def _subset(part: Dict, rows: np.ndarray, skipped: bool = True) -> Dict:
    """The given rows of a parsed part; its skipped action ids stay with the copy if ``skipped``."""
    out = {name: part[name][rows] for name in ("line", "key", "boxes", "action", "score")}
    out["skipped"] = part["skipped"] if skipped else np.zeros(0, dtype=np.int64)
    return out


def _join(parts: List[Dict]) -> Dict:
    joined = {name: _cat(parts, name, np.int64) for name in ("line", "key", "action", "skipped")}
    joined["boxes"] = _cat(parts, "boxes", np.float64, (0, 4))
    joined["score"] = _cat(parts, "score", np.float64)
    return joined


def _cat(parts: List[Dict], name: str, dtype, empty_shape=(0,)) -> np.ndarray:
    # Each part lets go of its array as it is joined, so only one field is held twice.
    arrays = [part.pop(name) for part in parts]
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(empty_shape, dtype=dtype)


def _parse_chunk(path: str, buf: bytes, first_line: int, keys, key_index, whitelist, checks) -> Dict:
    """Parse whole lines: fields are located from the positions of commas and newlines."""
    if b'"' in buf:
        raise _Quoted
    if b"\r" in buf:  # universal newlines, as the official reader's text-mode file
        buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    b = np.frombuffer(buf + bytes(_PAD), dtype=np.uint8)
    body = b[:len(buf)]
    seps = np.flatnonzero((body == 44) | (body == 10))
    sep = np.r_[-1, seps]  # -1 stands for the newline before the first line
    ends = np.flatnonzero(b[seps] == 10) + 1  # index in sep of each line's newline
    first = np.r_[0, ends[:-1]]  # index in sep of the newline before each line
    ncomma = ends - first - 1
    lines = np.arange(first_line, first_line + len(ends), dtype=np.int64)
    empty = (ncomma == 0) & (sep[ends] == sep[first] + 1)
    bad = ~empty & (ncomma != 1) & (ncomma != 6) & (ncomma != 7)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{path}:{lines[i]}: expected 2, 7 or 8 comma-separated fields, got {ncomma[i] + 1}")
    # Keys in file order, including those of key frames without boxes.
    keyed = np.flatnonzero(ncomma >= 1)
    key = _key_ids(path, _strings(b, sep[first[keyed]] + 1, sep[first[keyed] + 2]), lines[keyed], keys, key_index)
    key = key[ncomma[keyed] >= 6]
    rows = np.flatnonzero(ncomma >= 6)
    first, lines = first[rows], lines[rows]

    def field(k, at=slice(None)):
        return sep[first[at] + k] + 1, sep[first[at] + k + 1], lines[at]

    # As in the official reader, every row needs valid coordinates and action id, evaluated rows a score.
    # A box's text is parsed once for the run of rows repeating it (one row per class of a box).
    new_box = _changed(b, sep[first + 2] + 1, sep[first + 6])
    heads = np.flatnonzero(new_box)
    boxes = np.stack([_parse(path, b, *field(k, heads), np.float64, _COORDINATES[k - 2]) for k in range(2, 6)],
                     axis=1)
    boxes = boxes[np.cumsum(new_box) - 1]
    action = _parse(path, b, *field(6), np.int64, "action_id")
    keep = np.ones(len(rows), dtype=bool) if whitelist is None else np.isin(action, whitelist)
    score = np.ones(len(rows), dtype=np.float64)
    scored = np.flatnonzero(keep & (ncomma[rows] == 7))
    score[scored] = _parse(path, b, *field(7, scored), np.float64, checks.last_column)
    if checks.finite_scores:
        _check_finite(path, score, lines, lambda i: _strings(b, *field(7, np.array([i]))[:2])[0])
    return {"line": lines[keep], "key": key[keep], "boxes": boxes[keep], "action": action[keep],
            "score": score[keep], "skipped": action[~keep], "num_lines": len(ends)}


# _BYTE_MASKS[n]: the first n bytes of a little-endian 64-bit word.
_BYTE_MASKS = np.array([(1 << 8 * n) - 1 for n in range(9)], dtype=np.uint64)


def _changed(b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``(R,)`` bool: the text ``[start, end)`` differs from the previous row's (True for the first row)."""
    length = end - start
    changed = np.ones(len(length), dtype=bool)
    if len(length) < 2 or length.max() > 3 * 8:
        return changed
    unaligned = np.ndarray((len(b) - _FAST_WIDTH + 1,), dtype="<u8", buffer=b, strides=(1,))
    same = length[1:] == length[:-1]
    for i in range(3):
        word = unaligned[start + 8 * i] & _BYTE_MASKS[np.clip(length - 8 * i, 0, 8)]
        same &= word[1:] == word[:-1]
    changed[1:] = ~same
    return changed


def _parse(path: str, b: np.ndarray, start: np.ndarray, end: np.ndarray, lines: np.ndarray, dtype,
           what: str) -> np.ndarray:
    """Numbers in the byte ranges ``[start, end)`` of ``b``; a bad one names its line."""
    values, ok = _fast_numbers(b, start, end, integer=dtype == np.int64)
    values = values.astype(dtype)
    if not ok.all():
        other = np.flatnonzero(~ok)
        values[other] = _numbers(path, _strings(b, start[other], end[other]), lines[other], dtype, what)
    return values


def _fast_numbers(b: np.ndarray, start: np.ndarray, end: np.ndarray, integer: bool):
    """Parse fields of digits with at most one dot (no dot if ``integer``) from their bytes.

    Each field's first 8 or 16 bytes are loaded as 64-bit words. Fields are
    grouped by layout (length, dot position); each layout's digits are weighted
    by exact powers of ten in one matrix product (exact: integers below 2**53),
    then divided by the exact power of ten of its decimals.

    Returns:
        values: ``(R,)`` float64, valid where ``ok``.
        ok: ``(R,)`` bool, the field had such a form.
    """
    length = end - start
    values = np.zeros(len(length), dtype=np.float64)
    ok = np.zeros(len(length), dtype=bool)
    if len(length) == 0:
        return values, ok
    words = 1 if length.max() <= 8 else 2
    width = 8 * words
    unaligned = np.ndarray((len(b) - _FAST_WIDTH + 1,), dtype="<u8", buffer=b, strides=(1,))
    text = np.stack([unaligned[start + 8 * i] for i in range(words)], axis=1).view(np.uint8)  # (R, width)
    if integer:
        dot = length
    else:
        is_dot = text == 46
        dot = np.minimum(np.where(_any_in_rows(is_dot), is_dot.argmax(axis=1), width), length)
    layout = np.where((length >= 1) & (length <= width), length * (_FAST_WIDTH + 1) + dot, -1)
    digits = text - np.uint8(48)  # wraps around for non-digits, which then fail `< 10`
    is_digit = digits < 10
    present = np.flatnonzero(np.bincount(layout[layout >= 0]))
    for code in present.tolist():
        size, dot_at = divmod(code, _FAST_WIDTH + 1)
        pattern = np.arange(width) < size  # where the layout has digits
        if dot_at < size:
            pattern[dot_at] = False
        if not 1 <= pattern.sum() < _FAST_WIDTH:
            continue
        rows = slice(None) if (layout == code).all() else np.flatnonzero(layout == code)
        # Weight 10**(digits to the right) on digits, 0 on the dot and past the field.
        weights = np.where(pattern, _POW10[np.cumsum(pattern[::-1])[::-1] - 1], 0.0)
        values[rows] = (digits[rows].astype(np.float64) @ weights) / _POW10[max(size - dot_at - 1, 0)]
        ok[rows] = ~_any_in_rows((is_digit[rows] != pattern) & (np.arange(width) < size))
    return values, ok


def _any_in_rows(mask: np.ndarray) -> np.ndarray:
    """``mask.any(axis=1)`` for an ``(R, 8)`` or ``(R, 16)`` bool array, one 64-bit word at a time."""
    words = np.ascontiguousarray(mask).view(np.uint64)
    return (words[:, 0] | words[:, 1] if words.shape[1] == 2 else words[:, 0]) != 0


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
        video_id, timestamp = text.decode("utf-8", errors="replace").split(",", 1)
        try:
            key = (video_id, int(timestamp))
        except ValueError:
            raise ValueError(f"{path}:{line}: timestamp {timestamp!r} is not an integer") from None
        if key not in key_index:
            key_index[key] = len(keys)
            keys.append(key)
        head_ids.append(key_index[key])
    return np.array(head_ids, dtype=np.int64)[np.cumsum(heads) - 1]


def _parse_quoted(path: str, f, keys, key_index, whitelist, checks) -> Dict:
    """Slow path for files with quoted fields: the ``csv`` module splits rows."""
    reader = csv.reader(io.TextIOWrapper(f, encoding="utf-8-sig", newline=None))
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
    key_lines = np.array(key_lines, dtype=np.int64)
    lines = np.array(lines, dtype=np.int64)
    key = _key_ids(path, np.array(key_fields, dtype=bytes), key_lines, keys, key_index)[np.isin(key_lines, lines)]
    cols = np.array(fields, dtype=bytes).reshape(-1, 6)  # x1, y1, x2, y2, action_id, score
    boxes = np.stack([_numbers(path, cols[:, k], lines, np.float64, _COORDINATES[k]) for k in range(4)], axis=1)
    action = _numbers(path, cols[:, 4], lines, np.int64, "action_id")
    keep = np.ones(len(lines), dtype=bool) if whitelist is None else np.isin(action, whitelist)
    score = np.ones(len(lines), dtype=np.float64)
    scored = np.flatnonzero(keep & np.array(has_score, dtype=bool))
    score[scored] = _numbers(path, cols[scored, 5], lines[scored], np.float64, checks.last_column)
    if checks.finite_scores:
        _check_finite(path, score, lines, lambda i: cols[i, 5])
    return {"line": lines[keep], "key": key[keep], "boxes": boxes[keep].reshape(-1, 4), "action": action[keep],
            "score": score[keep], "skipped": action[~keep]}


def _check_finite(path: str, score: np.ndarray, lines: np.ndarray, text: Callable[[int], bytes]) -> None:
    """A NaN or infinite score is an error naming its line (``text(i)``: the score's text in row ``i``)."""
    bad = np.flatnonzero(~np.isfinite(score))
    if len(bad):
        shown = bytes(text(int(bad[0]))).decode("utf-8", errors="replace")
        raise ValueError(f"{path}:{lines[bad[0]]}: score {shown!r} is not a finite number")


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
                shown = text.decode("utf-8", errors="replace")
                if not shown.strip():
                    raise ValueError(f"{path}:{line}: empty {what}") from None
                raise ValueError(f"{path}:{line}: {what} {shown!r} is not a number") from None
        raise
