"""A TCP relay in front of PostgreSQL that counts the round trips a client makes.

A PostgreSQL client sends, then waits for the answer before it sends again
(asyncpg writes each request, e.g. Bind + Execute + Sync, in one go), so each
chunk that reaches the relay from a client is one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

_CHUNK = 65536


@dataclass(eq=False)
class _Client:
    startup: bytes = b""  # the first bytes it sent, which hold its startup message
    writes: int = 0


@dataclass
class CountingRelay:
    """Relays to ``upstream_url``'s server; ``url`` is the same URL, through the relay."""

    upstream_url: str
    url: str = ""
    _clients: list[_Client] = field(default_factory=list)

    def reset(self) -> None:
        for client in self._clients:
            client.writes = 0

    def writes_by(self, application_name: str) -> int:
        """Round trips since ``reset`` by the connections that named themselves so."""
        name = b"application_name\x00" + application_name.encode() + b"\x00"
        return sum(c.writes for c in self._clients if name in c.startup)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = make_url(self.upstream_url)
        server_reader, server_writer = await asyncio.open_connection(upstream.host, upstream.port)
        client = _Client()
        self._clients.append(client)
        try:
            await asyncio.gather(
                self._pipe(reader, server_writer, client),
                self._pipe(server_reader, writer, None),
            )
        finally:
            for stream in (writer, server_writer):
                stream.close()

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, counted: _Client | None
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await source.read(_CHUNK):
                if counted is not None:
                    if len(counted.startup) < 1024:
                        counted.startup += chunk
                    counted.writes += 1
                sink.write(chunk)
                await sink.drain()
        with contextlib.suppress(OSError):
            sink.write_eof()


@asynccontextmanager
async def counting_relay(upstream_url: str) -> AsyncIterator[CountingRelay]:
    relay = CountingRelay(upstream_url)
    server = await asyncio.start_server(relay._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay.url = make_url(upstream_url).set(port=port).render_as_string(hide_password=False)
    async with server:
        yield relay
