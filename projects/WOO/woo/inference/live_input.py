"""Live inputs: what ``woo demo --input`` accepts besides files, and how PyAV opens each.

A live input is a camera (``/dev/video0`` or an index: v4l2 on Linux,
avfoundation on macOS, ``video=<name>`` with dshow on Windows), a network
stream (``rtsp://``, ``rtmp://``, ``http://``, ``udp://``, ``tcp://``, ...)
or ``-``, a container stream on standard input. Such an input is opened with
a small probe, so that it starts at once, and with a timeout on opening and on
every read, so that a silent source ends the run instead of hanging it.
"""
import os
import re
import select
import sys
from dataclasses import dataclass
from typing import Dict, Optional, Union
from urllib.parse import urlsplit

__all__ = ["LIVE_SCHEMES", "LIVE_PROBE_OPTIONS", "DEFAULT_TIMEOUT", "LiveTarget", "live_kind", "live_target",
           "probe_options", "redact"]

# URL schemes read as network streams (FFmpeg's protocols).
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "http", "https", "udp", "tcp")
# FFmpeg probes 5 MB / 5 s of a stream by default before it returns from opening; a live
# source starts after half a second (of stream time, or this many bytes). --input-option overrides.
LIVE_PROBE_OPTIONS = {"probesize": "500000", "analyzeduration": "500000"}
# Seconds a live source may take to open, or stay silent, before the run ends.
DEFAULT_TIMEOUT = 10.0
# PyAV input format of a camera, by sys.platform.
_CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}


@dataclass(frozen=True)
class LiveTarget:
    """How to open one live input with ``av.open``.

    Attributes:
        kind: "camera", "network" or "stdin".
        name: the input as error messages and outputs name it (a URL's password hidden).
        video_id: a short id for the outputs (detections.csv), e.g. "video0", "stream1", "stdin".
        target: what ``av.open`` reads: a device, a URL or a file object.
        format: the PyAV input format (the camera's), or None to detect it.
    """

    kind: str
    name: str
    video_id: str
    target: Union[str, object]
    format: Optional[str]


def live_kind(spec: str, platform: str = sys.platform) -> Optional[str]:
    """"camera", "network" or "stdin" for a live ``--input``, None for anything else (a path).

    An existing file or folder is never live, even one named ``0``.
    """
    if spec == "-":
        return "stdin"
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", spec)
    if match:
        return "network" if match.group(1).lower() in LIVE_SCHEMES else None
    if os.path.exists(spec) and not spec.startswith("/dev/"):
        return None
    if spec.isdigit() or spec.startswith("/dev/video") or (platform == "win32" and spec.startswith("video=")):
        return "camera"
    return None


def live_target(spec: str, kind: str, timeout: float, platform: str = sys.platform) -> LiveTarget:
    """Where and how to open the live input ``spec`` of ``kind`` (:func:`live_kind`).

    Raises:
        ValueError: a camera given in a way this platform cannot open.
    """
    if kind == "stdin":
        # FFmpeg's own pipe reader blocks without a timeout; a POSIX pipe can be polled.
        target = _PolledFile(sys.stdin.fileno(), timeout) if os.name == "posix" else "pipe:0"
        return LiveTarget("stdin", "standard input", "stdin", target, None)
    if kind == "network":
        name = redact(spec)
        return LiveTarget("network", name, _url_id(spec), spec, None)
    platform = "linux" if platform.startswith("linux") else platform
    camera_format = _CAMERA_FORMATS.get(platform)
    if camera_format == "v4l2":
        device = f"/dev/video{spec}" if spec.isdigit() else spec
        return LiveTarget("camera", device, _safe_id(os.path.basename(device)), device, "v4l2")
    if camera_format == "avfoundation" and spec.isdigit():
        return LiveTarget("camera", f"camera {spec}", f"camera{spec}", spec, "avfoundation")
    if camera_format == "dshow" and spec.startswith("video="):
        return LiveTarget("camera", spec, _safe_id(spec[len("video="):]), spec, "dshow")
    if camera_format == "dshow":
        raise ValueError(f"cannot open camera {spec} on Windows: give its name, --input \"video=<name>\" "
                         "(`ffmpeg -list_devices true -f dshow -i dummy` lists them)")
    if camera_format == "avfoundation":
        raise ValueError(f"cannot open camera {spec} on macOS: give its index, e.g. --input 0")
    raise ValueError(f"cannot open camera {spec}: no camera input is known on {platform}")


def redact(url: str) -> str:
    """``url`` with the password of its user info hidden (rtsp://user:***@host/...)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def _url_id(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    name = os.path.splitext(segments[-1])[0] if segments else (parts.hostname or parts.scheme)
    return _safe_id(name)


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "live"


class _PolledFile:
    """A readable file descriptor for ``av.open`` whose reads wait at most ``timeout`` seconds.

    Raises:
        TimeoutError: from ``read`` when nothing arrives in time (PyAV passes it on).
    """

    def __init__(self, fd: int, timeout: float):
        self.fd, self.timeout = fd, timeout

    def read(self, size: int) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            raise TimeoutError(f"nothing received for {self.timeout:g} s")
        return os.read(self.fd, size)


def probe_options(options: Optional[Dict[str, str]]) -> Dict[str, str]:
    """The container options of a live input: the small probe, then the user's (which win)."""
    return {**LIVE_PROBE_OPTIONS, **(options or {})}
