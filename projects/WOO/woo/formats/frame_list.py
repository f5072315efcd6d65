"""A video's frame files held compactly (:class:`FramePaths`), and the reader of PySlowFast frame lists.

AVA's training frame list names 6.35M frames of 235 videos. Held as Python strings they
take gigabytes, and every DataLoader worker that reads them copies the pages they sit on
(reference counts are writes). A video's frames nearly always follow one pattern
(``<video>/<video>_%06d.jpg``), so :class:`FramePaths` keeps a pattern and a count, and
only a video whose frames follow none keeps its names, in one numpy array.
"""
import os
import re
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from .atomic import atomic_write

# The box CSV reader's byte-level field helpers: fields located in a chunk's bytes, numbers parsed from them.
from .ava_box_csv import _changed, _parse, _strings

__all__ = ["FramePaths", "read_frame_list", "write_frame_list"]

_FRAME_LIST_HEADER = ["original_vido_id", "video_idx", "frame_id", "path", "labels"]
# The last run of digits of a file name: the frame number of a pattern.
_LAST_NUMBER = re.compile(rb"^(.*?)(\d+)(\D*)$", re.S)


class FramePaths(Sequence[str]):
    """The frames of one video: ``paths[i]`` is the file of frame ``i`` (0-based), ``len(paths)`` their number.

    Either a pattern (``os.path.join(root, pattern.format(first + i))``) or, for frames that
    follow no pattern, one array of names (``os.path.join(root, names[i])``). It compares equal to
    any sequence of the same paths, pickles small, and holds no Python object per frame.

    Args:
        root: folder the names are relative to ("" for none).
        count: number of frames.
        pattern: ``str.format`` pattern of a frame's name, e.g. ``"v/v_{:06d}.jpg"``.
        first: the number of frame 0 in the pattern (1 for ffmpeg's ``%06d`` output).
        names: ``(count,)`` UTF-8 ``S`` array of names, instead of a pattern.
    """

    __slots__ = ("root", "count", "pattern", "first", "names")

    def __init__(self, root: str, count: int, *, pattern: Optional[str] = None, first: int = 0,
                 names: Optional[np.ndarray] = None):
        if (pattern is None) == (names is None):
            raise ValueError("FramePaths takes a pattern or names, not both")
        if names is not None and len(names) != count:
            raise ValueError(f"FramePaths: {len(names)} names for {count} frames")
        self.root, self.count, self.pattern, self.first, self.names = root, int(count), pattern, int(first), names

    @classmethod
    def from_paths(cls, paths: Sequence[str], root: str = "") -> "FramePaths":
        """The frames ``paths`` (relative to ``root``), as a pattern when they follow one."""
        encoded = np.array([p.encode("utf-8") for p in paths], dtype=bytes) if len(paths) else np.zeros(0, "S1")
        return _compact(root, encoded)

    def with_root(self, root: str) -> "FramePaths":
        """The same frames, relative to ``root`` joined before the current root."""
        return FramePaths(os.path.join(root, self.root), self.count, pattern=self.pattern, first=self.first,
                          names=self.names)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Union[int, slice]):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        index = int(index)
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index} of a video of {self.count} frames")
        if self.pattern is not None:
            name = self.pattern.format(self.first + index)
        else:
            name = self.names[index].decode("utf-8")
        return os.path.join(self.root, name) if self.root else name

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self.count))

    def __eq__(self, other) -> bool:
        if isinstance(other, FramePaths) and (self.pattern, self.root) == (other.pattern, other.root) and \
                self.pattern is not None:
            return (self.count, self.first) == (other.count, other.first)
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == self.count and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __getstate__(self):
        return (self.root, self.count, self.pattern, self.first, self.names)

    def __setstate__(self, state):
        self.root, self.count, self.pattern, self.first, self.names = state

    def __repr__(self) -> str:
        what = f"pattern={self.pattern!r}, first={self.first}" if self.pattern is not None else "names=[...]"
        return f"FramePaths(root={self.root!r}, count={self.count}, {what})"


class _Pattern:
    """A name pattern taken from one frame's name and number: the name's last run of digits is
    the frame number plus a constant, zero-padded to the digits' width."""

    def __init__(self, name: bytes, frame_id: int):
        match = _LAST_NUMBER.match(name)
        self.ok = match is not None
        if self.ok:
            # Names are compared as bytes of one length: numbers that grow wider (unpadded) do not match.
            self.prefix, digits, self.suffix = match.groups()
            self.width, self.first = len(digits), int(digits) - frame_id

    def matches(self, names: np.ndarray, frame_ids: np.ndarray) -> bool:
        """Every name is this pattern's for its frame id (``S`` array, int array)."""
        if not self.ok:
            return False
        length = len(self.prefix) + self.width + len(self.suffix)
        if names.itemsize == length:
            matrix = names.view(np.uint8).reshape(len(names), length)
            if (matrix[:, -1] == 0).any():  # a shorter name, NUL-padded
                return False
        elif (np.char.str_len(names) != length).any():
            return False
        else:
            matrix = names.astype(f"S{length}").view(np.uint8).reshape(len(names), length)
        number = matrix[:, len(self.prefix):len(self.prefix) + self.width]
        if not ((matrix[:, :len(self.prefix)] == np.frombuffer(self.prefix, np.uint8)).all()
                and (matrix[:, len(self.prefix) + self.width:] == np.frombuffer(self.suffix, np.uint8)).all()
                and ((number >= 48) & (number <= 57)).all()):
            return False
        values = (number - 48).astype(np.int64) @ (10 ** np.arange(self.width - 1, -1, -1, dtype=np.int64))
        return bool((values == self.first + frame_ids).all())

    def format(self) -> str:
        escape = lambda part: part.decode("utf-8").replace("{", "{{").replace("}", "}}")  # noqa: E731
        return escape(self.prefix) + "{:0%dd}" % self.width + escape(self.suffix)


def _compact(root: str, names: np.ndarray) -> FramePaths:
    """``FramePaths`` of ``names`` (``S`` array, in frame order): a pattern when they follow one."""
    if len(names):
        pattern = _Pattern(names[0], 0)
        if pattern.matches(names, np.arange(len(names))):
            return FramePaths(root, len(names), pattern=pattern.format(), first=pattern.first)
    return FramePaths(root, len(names), names=names)


class _VideoRows:
    """The rows of one video read so far: frame ids and line numbers, and names only where they
    follow no pattern (so AVA's 6.35M names are never all held at once)."""

    def __init__(self, name: bytes, frame_id: int):
        self.pattern = _Pattern(name, frame_id)
        self.ids: List[np.ndarray] = []
        self.lines: List[np.ndarray] = []
        self.names: List[Optional[np.ndarray]] = []

    def add(self, frame_ids: np.ndarray, names: np.ndarray, lines: np.ndarray) -> None:
        self.ids.append(frame_ids.astype(np.int32))
        self.lines.append(lines.astype(np.int32))
        self.names.append(None if self.pattern.matches(names, frame_ids) else names)

    def frame_paths(self, path: str, video_id: str) -> FramePaths:
        ids, lines = np.concatenate(self.ids), np.concatenate(self.lines)
        order = np.lexsort((lines, ids))
        ids, lines = ids[order], lines[order]
        repeated = np.flatnonzero(ids[1:] == ids[:-1]) + 1
        if len(repeated):
            at = repeated[np.argmin(lines[repeated])]
            raise ValueError(f"{path}:{lines[at]}: frame {ids[at]} of video {video_id!r} listed twice")
        if ids[0] != 0 or ids[-1] != len(ids) - 1:
            missing = int(np.flatnonzero(ids != np.arange(len(ids)))[0])
            raise ValueError(f"{path}: video {video_id!r} has frame ids {ids[0]}..{ids[-1]} with frame {missing} "
                             "missing")
        if all(names is None for names in self.names):
            return FramePaths("", len(ids), pattern=self.pattern.format(), first=self.pattern.first)
        pattern = self.pattern.format() if self.pattern.ok else None
        parts = [names if names is not None else
                 np.array([pattern.format(self.pattern.first + int(i)).encode("utf-8") for i in part_ids])
                 for names, part_ids in zip(self.names, self.ids)]
        width = max(part.itemsize for part in parts)
        return _compact("", np.concatenate([part.astype(f"S{width}") for part in parts])[order])


def read_frame_list(path: str, chunk_bytes: int = 8 << 20) -> Dict[str, FramePaths]:
    """Read a PySlowFast frame list (space separated, with header).

    Rows are ``original_vido_id video_idx frame_id path labels``; ``path`` is relative to
    the frames directory. The file is parsed in chunks with numpy (AVA's train list of 6.35M
    rows reads in seconds).

    Returns:
        ``{video_id: FramePaths}`` in order of first appearance, frames ordered by ``frame_id``.

    Raises:
        ValueError: naming file and line of a malformed row or duplicate frame id, or naming
            the video whose frame ids are not 0..n-1.
    """
    videos: Dict[str, _VideoRows] = {}
    with open(path, "rb") as f:
        first_line, rest = 1, b""
        data = f.read(chunk_bytes)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        while True:
            last = not data
            buf = rest + data
            cut = len(buf) if last else buf.rfind(b"\n") + 1
            buf, rest = buf[:cut], buf[cut:]
            if buf:
                first_line += _parse_frame_rows(path, buf, first_line, videos)
            if last:
                break
            data = f.read(chunk_bytes)
    return {video_id: rows.frame_paths(path, video_id) for video_id, rows in videos.items()}


def write_frame_list(path: str, videos: Mapping[str, Sequence[str]]) -> None:
    """Write a PySlowFast frame list (what :func:`read_frame_list` reads), atomically.

    Args:
        videos: ``{video_id: frame paths}`` relative to the frames directory, in frame order;
            a name must hold no space.
    """
    with atomic_write(path, newline="\n") as f:
        f.write(" ".join(_FRAME_LIST_HEADER) + "\n")
        for index, (video_id, frames) in enumerate(videos.items()):
            for frame_id, name in enumerate(frames):
                if " " in name or " " in video_id:
                    raise ValueError(f"{path}: frame {name!r} of video {video_id!r}: a frame list cannot hold spaces")
                f.write(f'{video_id} {index} {frame_id} {name} ""\n')


_PAD = 64


def _separators(buf: bytes):
    """The bytes of ``buf`` with zero padding (for fixed-width reads), and the positions of spaces and newlines."""
    b = np.frombuffer(buf + bytes(_PAD), dtype=np.uint8)
    body = b[:len(buf)]
    return b, np.flatnonzero((body == 32) | (body == 10))


def _irregular_spaces(b: np.ndarray, seps: np.ndarray) -> bool:
    """A space next to another separator, or first in the text: fields are not single-space separated."""
    if len(seps) == 0:
        return False
    adjacent = np.flatnonzero(seps[1:] == seps[:-1] + 1)
    return bool(b[0] == 32 or ((b[seps[adjacent]] == 32) | (b[seps[adjacent + 1]] == 32)).any())


def _parse_frame_rows(path: str, buf: bytes, first_line: int, videos: Dict[str, _VideoRows]) -> int:
    """Parse the whole lines of ``buf`` into ``videos``; returns the number of lines.

    Fields are located from the positions of single spaces and newlines, as the box CSV reader
    locates commas; other whitespace (tabs, runs of spaces, spaces at a line's ends) is first
    reduced to that form.
    """
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not buf.endswith(b"\n"):
        buf += b"\n"
    b, seps = _separators(buf)
    if b"\t" in buf or _irregular_spaces(b, seps):
        b, seps = _separators(re.sub(rb"(?m)^ +| +$", b"", re.sub(rb"[ \t]+", b" ", buf)))
    body = b[:len(b) - _PAD]
    sep = np.r_[-1, seps]  # -1 stands for the newline before the first line
    ends = np.flatnonzero(b[seps] == 10) + 1  # index in sep of each line's newline
    first = np.r_[0, ends[:-1]]  # index in sep of the newline before each line
    fields = ends - first
    lines = np.arange(first_line, first_line + len(ends), dtype=np.int64)
    used = np.flatnonzero(sep[ends] != sep[first] + 1)  # not empty
    if first_line == 1 and len(used) and used[0] == 0:
        if bytes(body[:sep[1]]) == _FRAME_LIST_HEADER[0].encode():
            used = used[1:]
    bad = used[(fields[used] != 4) & (fields[used] != 5)]
    if len(bad):
        i = int(bad[0])
        text = bytes(body[sep[first[i]] + 1:sep[ends[i]]]).decode("utf-8", "replace")
        raise ValueError(f"{path}:{lines[i]}: expected '{' '.join(_FRAME_LIST_HEADER)}', got {text.strip()!r}")
    at, row_lines = first[used], lines[used]
    frame_ids = _parse(path, b, sep[at + 2] + 1, sep[at + 3], row_lines, np.int64, "frame_id")
    names = _strings(b, sep[at + 3] + 1, sep[at + 4])
    # Rows of one video are contiguous in PySlowFast's lists: split where the video id changes.
    change = np.flatnonzero(np.r_[_changed(b, sep[at] + 1, sep[at + 1]), True]) if len(at) else [0]
    for begin, end in zip(change[:-1].tolist(), change[1:].tolist()):
        video_id = bytes(body[sep[at[begin]] + 1:sep[at[begin] + 1]]).decode("utf-8")
        if video_id not in videos:
            videos[video_id] = _VideoRows(names[begin], int(frame_ids[begin]))
        videos[video_id].add(frame_ids[begin:end], names[begin:end], row_lines[begin:end])
    return len(ends)
