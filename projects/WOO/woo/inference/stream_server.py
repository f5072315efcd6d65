"""A video file served as a live stream over TCP: a stand-in for a camera, to try and test
live input (``woo demo --input tcp://127.0.0.1:PORT``) anywhere.

The file's packets are remuxed, not re-encoded, into MPEG-TS (what a
camera or ``ffmpeg -f mpegts`` sends) and each is sent when its time comes,
so the stream arrives at the video's own pace.
"""
import socket
import threading
import time
from typing import Optional

import av

__all__ = ["PacedStreamServer"]


class PacedStreamServer:
    """Serve ``path`` to the first client that connects, in real time.

    ``with PacedStreamServer("clip.mp4") as server:`` listens at once on
    ``server.url`` and streams from the moment a client connects; leaving the
    block closes the connection. ``finished`` is set once every packet is sent
    (or, with ``stall_after``, once the stream went silent).

    Args:
        path: a video file PyAV reads (e.g. H.264 in mp4).
        host: the address to listen on.
        port: 0 picks a free port.
        stall_after: stop sending after this many seconds of video but keep the
            connection open until closed: a source that goes silent.
        accept_timeout: seconds to wait for a client.
    """

    def __init__(self, path: str, *, host: str = "127.0.0.1", port: int = 0, stall_after: Optional[float] = None,
                 accept_timeout: float = 60.0):
        self.path = path
        self.stall_after = stall_after
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(accept_timeout)
        self.url = f"tcp://{host}:{self._listener.getsockname()[1]}"
        self.finished = threading.Event()
        self.sent_seconds = 0.0  # seconds of video sent so far
        self.error: Optional[BaseException] = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="woo-stream-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError as e:  # no client came, or closed before one did
            self.error = e if not self._closing.is_set() else None
            self.finished.set()
            return
        try:
            with connection, connection.makefile("wb") as sink:
                self._send(sink)
        except (BrokenPipeError, ConnectionResetError):  # the client hung up: nothing left to serve
            pass
        except BaseException as e:  # kept for the owner to inspect
            self.error = e
        finally:
            self.finished.set()

    def _send(self, sink) -> None:
        with av.open(self.path) as source, av.open(sink, mode="w", format="mpegts") as muxer:
            stream = source.streams.video[0]
            out = muxer.add_stream_from_template(stream)
            start, first = time.monotonic(), None
            for packet in source.demux(stream):
                if packet.dts is None:  # the demuxer's empty packet at the end
                    continue
                seconds = float(packet.dts * stream.time_base)
                first = seconds if first is None else first
                if self.stall_after is not None and seconds - first >= self.stall_after:
                    sink.flush()
                    self.finished.set()
                    self._closing.wait()  # silent, connection open
                    return
                wait = start + (seconds - first) - time.monotonic()
                if wait > 0 and self._closing.wait(wait):
                    return
                packet.stream = out
                muxer.mux(packet)
                sink.flush()  # on the wire now, not when a buffer fills
                self.sent_seconds = seconds - first
        sink.flush()

    def close(self) -> None:
        """Stop sending and close the connection and the listening socket."""
        self._closing.set()
        self._listener.close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "PacedStreamServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
