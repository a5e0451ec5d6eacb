"""A TCP relay in front of PostgreSQL: it counts round trips, and can put the database farther away.

It runs in threads of the harness, which only waits for wrk while a benchmark runs.
Each direction of each connection has a reader, which stamps every chunk it
receives, and a sender, which forwards the chunks in order, each `delay_seconds`
after it arrived (time.sleep: tens of µs late at most on Linux), so a delay does
not serialise what a client sends back to back.

A PostgreSQL client sends, then waits for the answer before it sends again (asyncpg
writes a whole request, e.g. Bind + Execute + Sync, in one go), so each chunk that
comes from a client is one round trip. Connections are told apart by the
`application_name` in their startup message.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy.engine import make_url

from bench.servers import LOCALHOST

_CHUNK = 65536
_STARTUP_BYTES = 1024  # the SSL request and the startup message fit in this
_ACCEPT_POLL_SECONDS = 0.2
_JOIN_SECONDS = 2.0

_Chunk = tuple[float, bytes] | None


@dataclass(eq=False)
class _Link:
    client: socket.socket
    server: socket.socket
    startup: bytearray = field(default_factory=bytearray)
    sent: int = 0
    """Chunks from the client since the last reset: its round trips."""


class Relay:
    """Relays loopback connections to `upstream_url`'s server; `url` is that URL through it.

    Use as a context manager. `delay_seconds` may change at any time; a chunk waits
    for the delay in force when it arrived.
    """

    def __init__(self, upstream_url: str, *, delay_seconds: float = 0.0) -> None:
        upstream = make_url(upstream_url)
        assert upstream.host is not None and upstream.port is not None
        self._upstream = (upstream.host, upstream.port)
        self._listener = socket.create_server((LOCALHOST, 0))
        self._listener.settimeout(_ACCEPT_POLL_SECONDS)
        port = self._listener.getsockname()[1]
        self.url = upstream.set(host=LOCALHOST, port=port).render_as_string(hide_password=False)
        self.delay_seconds = delay_seconds
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def reset(self) -> None:
        with self._lock:
            for link in self._links:
                link.sent = 0

    def round_trips(self, application_name: str) -> int:
        """Round trips since `reset` by the connections that named themselves so."""
        marker = b"application_name\x00" + application_name.encode() + b"\x00"
        with self._lock:
            return sum(link.sent for link in self._links if marker in link.startup)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            self._spawn("relay-up", self._read, client, server, link)
            self._spawn("relay-down", self._read, server, client, None)

    def _read(self, source: socket.socket, sink: socket.socket, link: _Link | None) -> None:
        chunks: queue.SimpleQueue[_Chunk] = queue.SimpleQueue()
        self._spawn("relay-send", self._send, chunks, sink)
        try:
            while chunk := source.recv(_CHUNK):
                if link is not None:
                    if len(link.startup) < _STARTUP_BYTES:
                        link.startup += chunk
                    link.sent += 1
                chunks.put((time.monotonic() + self.delay_seconds, chunk))
        except OSError:
            pass
        finally:
            chunks.put(None)

    @staticmethod
    def _send(chunks: queue.SimpleQueue[_Chunk], sink: socket.socket) -> None:
        while (item := chunks.get()) is not None:
            due, chunk = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sink.sendall(chunk)
            except OSError:
                break
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def __enter__(self) -> Relay:
        self._spawn("relay-accept", self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed.set()
        with self._lock:
            links, threads = list(self._links), list(self._threads)
        for link in links:
            for sock in (link.client, link.server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=_JOIN_SECONDS)
        for link in links:
            link.client.close()
            link.server.close()
        self._listener.close()
