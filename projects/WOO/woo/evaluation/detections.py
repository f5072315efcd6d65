"""Model predictions as AVA detection rows: in memory and as a CSV file."""
from typing import Dict, Iterable, List, Sequence

import numpy as np

from woo.formats.atomic import atomic_write
from woo.formats.ava_box_csv import AVABoxRows

__all__ = ["COORD_DECIMALS", "SCORE_DECIMALS", "predictions_to_rows", "round_as_written", "write_detections_csv"]

# Rows written per block; bounds the memory of the vectorized formatting.
_BLOCK_BOXES = 4096
# Decimals of a detection CSV: normalized coordinates and scores.
COORD_DECIMALS = 3
SCORE_DECIMALS = 6


def _check(index: int, pred: Dict):
    boxes = np.asarray(pred["boxes"], dtype=np.float64)
    scores = np.asarray(pred["scores"], dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.ndim != 2 or len(scores) != len(boxes):
        raise ValueError(f"prediction {index} ({pred.get('video_id')}, {pred.get('timestamp')}): boxes must be (N, 4) "
                         f"and scores (N, C), got {boxes.shape} and {scores.shape}")
    return boxes, scores


def predictions_to_rows(predictions: Sequence[Dict], class_whitelist: Iterable[int]) -> AVABoxRows:
    """The rows a detection CSV of these predictions would hold, without the file.

    Row order is that of :func:`write_detections_csv` (prediction, box, class),
    so evaluating these rows equals evaluating that file written with exact
    values.

    Args:
        predictions: ``[{"video_id", "timestamp", "boxes": (N, 4) normalized
            x1y1x2y2, "scores": (N, C), column j = action id j + 1}]``.
        class_whitelist: evaluated action ids; other columns are counted in
            ``skipped``.
    """
    whitelist = set(class_whitelist)
    keys: List = []
    key_index: Dict = {}
    box_key, all_boxes, all_scores = [], [], []
    num_columns = None
    for i, pred in enumerate(predictions):
        boxes, scores = _check(i, pred)
        if num_columns is None:
            num_columns = scores.shape[1]
        elif scores.shape[1] != num_columns and len(scores):
            raise ValueError(f"prediction {i}: {scores.shape[1]} score columns, earlier ones have {num_columns}")
        key = (str(pred["video_id"]), int(pred["timestamp"]))
        if key not in key_index:
            key_index[key] = len(keys)
            keys.append(key)
        box_key.append(np.full(len(boxes), key_index[key], dtype=np.int64))
        all_boxes.append(boxes)
        all_scores.append(scores)
    num_columns = num_columns or 0
    columns = np.array([j for j in range(num_columns) if j + 1 in whitelist], dtype=np.int64)
    box_key = np.concatenate(box_key) if box_key else np.zeros(0, dtype=np.int64)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    scores = np.concatenate(all_scores) if all_scores else np.zeros((0, num_columns))
    num_boxes, per_box = len(boxes), len(columns)
    skipped = {j + 1: num_boxes for j in range(num_columns) if j + 1 not in whitelist and num_boxes}
    return AVABoxRows(
        keys=keys,
        key=np.repeat(box_key, per_box),
        boxes=np.repeat(boxes, per_box, axis=0),
        action_id=np.tile(columns + 1, num_boxes),
        score=scores[:, columns].ravel(),
        line=(np.arange(num_boxes)[:, None] * num_columns + columns + 1).ravel(),
        skipped=skipped,
    )


def round_as_written(predictions: Sequence[Dict], coord_decimals: int = COORD_DECIMALS,
                     score_decimals: int = SCORE_DECIMALS) -> List[Dict]:
    """The predictions with boxes and scores as a detection CSV holds them, read back.

    Each value becomes the float64 that reading its ``f"{v:.{decimals}f}"`` text gives
    (what :func:`write_detections_csv` writes and :func:`woo.formats.ava_box_csv.read_box_csv`
    reads), so evaluating the rounded predictions equals evaluating the written file, to the
    last digit. Other keys are kept; the input is not modified.
    """
    rounded = []
    for i, pred in enumerate(predictions):
        boxes, scores = _check(i, pred)
        rounded.append({**pred, "boxes": _read_back(boxes, coord_decimals),
                        "scores": _read_back(scores, score_decimals)})
    return rounded


def _read_back(values: np.ndarray, decimals: int) -> np.ndarray:
    """float64 of ``f"{v:.{decimals}f}"`` for each value, as a CSV reader parses it (units / 10**decimals,
    one correctly rounded division, the same double as ``float(text)``)."""
    flat = values.ravel()
    units, simple = _decimal_units(flat, decimals)
    out = units / float(10 ** decimals)
    other = np.flatnonzero(~simple)
    if len(other):
        out[other] = [float(f"{v:.{decimals}f}") for v in flat[other].tolist()]
    return out.reshape(values.shape)


def write_detections_csv(path: str, predictions: Sequence[Dict], coord_decimals: int = COORD_DECIMALS,
                         score_decimals: int = SCORE_DECIMALS) -> None:
    """Write predictions as an AVA detection CSV, one row per box and class.

    Rows are ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` with the
    timestamp as 4 digits, action id ``j + 1`` for score column ``j``. The file
    is written atomically (temporary file, then rename); on any failure the
    temporary file is removed.

    Args:
        path: output CSV.
        predictions: as in :func:`predictions_to_rows`.
        coord_decimals: decimals of the normalized coordinates.
        score_decimals: decimals of the scores.

    Raises:
        OSError: naming ``path`` and the reason (e.g. "No space left on device").
    """
    with atomic_write(path, "wb") as f:
        for i, pred in enumerate(predictions):
            boxes, scores = _check(i, pred)
            prefix = f"{pred['video_id']},{int(pred['timestamp']):04d},"
            for lo in range(0, len(boxes), _BLOCK_BOXES):
                f.write(_format_block(prefix, boxes[lo:lo + _BLOCK_BOXES], scores[lo:lo + _BLOCK_BOXES],
                                      coord_decimals, score_decimals))


def _format_block(prefix: str, boxes: np.ndarray, scores: np.ndarray, coord_decimals: int,
                  score_decimals: int) -> bytes:
    """CSV bytes of a block of boxes: fields laid out in a NUL-padded byte grid, then NULs removed."""
    num_boxes, num_columns = scores.shape
    if num_boxes == 0 or num_columns == 0:
        return b""
    box_text = np.array([(prefix + ",".join(f"{v:.{coord_decimals}f}" for v in box) + ",").encode()
                         for box in boxes.tolist()], dtype=bytes)
    action_text = np.array([f"{j + 1},".encode() for j in range(num_columns)], dtype=bytes)
    score_text = _fixed_point(scores.ravel(), score_decimals)
    parts = [_as_grid(box_text)[:, None, :], _as_grid(action_text)[None, :, :],
             _as_grid(score_text).reshape(num_boxes, num_columns, -1)]
    widths = [p.shape[2] for p in parts]
    grid = np.zeros((num_boxes, num_columns, sum(widths) + 1), dtype=np.uint8)
    offset = 0
    for part, width in zip(parts, widths):
        grid[:, :, offset:offset + width] = part
        offset += width
    grid[:, :, -1] = ord("\n")
    return grid[grid != 0].tobytes()


def _as_grid(text: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(text).view(np.uint8).reshape(len(text), -1)


def _decimal_units(values: np.ndarray, decimals: int):
    """``(units, simple)``: ``units`` (int64) is ``round(v * 10**decimals)`` as Python's exact
    decimal rounding gives it where ``simple``; elsewhere (see :func:`_fixed_point`) 0."""
    scale = 10 ** decimals
    with np.errstate(invalid="ignore"):
        scaled = values * scale
        units = np.rint(scaled)
        # The product's error is below 2**-20 of a unit for v < 10 and decimals <= 9.
        near_half = np.abs(np.abs(scaled - units) - 0.5) < 2.0 ** -20
        simple = ~np.signbit(values) & (units < 10 * scale) & ~near_half & (decimals <= 9)
    return np.where(simple, units, 0).astype(np.int64), simple


def _fixed_point(values: np.ndarray, decimals: int) -> np.ndarray:
    """``f"{v:.{decimals}f}"`` as an ``S`` array, exactly; vectorized for values in [0, 10).

    ``rint(v * 10**decimals)`` can round the other way than Python's exact
    decimal rounding only when the product lies within its rounding error of a
    half unit (0.9213565 -> ``0.921357``); such values, negatives (``-0.0``
    keeps its sign), non-finite values and values from 10 on go through
    Python's formatting.
    """
    units, simple = _decimal_units(values, decimals)
    digits = units[:, None] // (10 ** np.arange(decimals, -1, -1)) % 10  # integer digit, then decimals
    grid = np.empty((len(values), decimals + 2), dtype=np.uint8)
    grid[:, 0] = digits[:, 0] + ord("0")
    grid[:, 1] = ord(".")
    grid[:, 2:] = digits[:, 1:] + ord("0")
    text = grid.view(f"S{decimals + 2}").ravel()
    if simple.all():
        return text
    other = np.flatnonzero(~simple)
    extra = np.array([f"{v:.{decimals}f}".encode() for v in values[other].tolist()], dtype=bytes)
    text = text.astype(f"S{max(decimals + 2, extra.dtype.itemsize)}")
    text[other] = extra
    return text
