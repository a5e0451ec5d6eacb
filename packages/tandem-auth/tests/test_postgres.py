"""Revocation against Better Auth's tables in a real PostgreSQL (a throwaway cluster).

The tables are made here from Better Auth 1.7's own columns, not from Tandem's
migrations: the package must work with any app's Better Auth database.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from tandem_stack.throwaway import throwaway_postgres

from tandem_auth import Principal, RevokedSession, SessionCheckUnavailable
from tandem_auth.postgres import (
    LiveSessionCache,
    PostgresSessionCheck,
    install_session_trigger,
    session_trigger_statements,
)

# DESIGN.md's appendix: Better Auth 1.7's user and session tables on PostgreSQL.
BETTER_AUTH_TABLES = """
CREATE TABLE "user" (
    id text PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
    "emailVerified" boolean NOT NULL, image text,
    "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE session (
    id text PRIMARY KEY, "expiresAt" timestamptz NOT NULL, token text NOT NULL UNIQUE,
    "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "ipAddress" text, "userAgent" text,
    "userId" text NOT NULL REFERENCES "user" (id) ON DELETE CASCADE
);
"""
ADMIN_PLUGIN_COLUMNS = """
ALTER TABLE "user" ADD COLUMN role text, ADD COLUMN banned boolean,
    ADD COLUMN "banReason" text, ADD COLUMN "banExpires" timestamptz
"""
# A sign-out must reach the cache well within DESIGN.md's 100 ms.
NOTIFY_WITHIN_SECONDS = 0.1


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    with throwaway_postgres() as cluster:
        yield cluster.superuser_url


async def _fresh_database(cluster_url: str, *, admin_plugin: bool) -> str:
    name = f"ba_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(cluster_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = cluster_url.rsplit("/", 1)[0] + f"/{name}"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(BETTER_AUTH_TABLES)
        if admin_plugin:
            await connection.execute(ADMIN_PLUGIN_COLUMNS)
        await install_session_trigger(connection)
    finally:
        await connection.close()
    return url


class BetterAuthRows:
    """Rows as Better Auth writes them."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.db = connection

    async def user_with_session(self, *, expires_in: timedelta = timedelta(days=1)) -> Principal:
        user_id, sid = secrets.token_hex(16), secrets.token_hex(16)
        await self.db.execute(
            'INSERT INTO "user" (id, name, email, "emailVerified") VALUES ($1, $2, $3, true)',
            user_id,
            "Someone",
            f"{user_id}@example.test",
        )
        await self.db.execute(
            'INSERT INTO session (id, "expiresAt", token, "userId")'
            " VALUES ($1, now() + $2, $3, $4)",
            sid,
            expires_in,
            secrets.token_hex(16),
            user_id,
        )
        return principal(user_id, sid)


def principal(sub: str, sid: str | None) -> Principal:
    return Principal(sub=sub, sid=sid, email=None, name=None, kid="k", expires_at=time.time() + 900)


@pytest_asyncio.fixture
async def database(cluster_url: str) -> str:
    return await _fresh_database(cluster_url, admin_plugin=False)


@pytest_asyncio.fixture
async def rows(database: str) -> AsyncIterator[BetterAuthRows]:
    connection = await asyncpg.connect(database)
    yield BetterAuthRows(connection)
    await connection.close()


@pytest_asyncio.fixture
async def check(database: str) -> AsyncIterator[PostgresSessionCheck]:
    async with PostgresSessionCheck(database) as sessions:
        await asyncio.wait_for(sessions.cache.wait_listening(), 5)
        yield sessions


async def refused_within(check: PostgresSessionCheck, who: Principal, seconds: float) -> float:
    """How long until ``check`` refuses ``who``; fails past ``seconds``."""
    started = time.monotonic()
    while True:
        try:
            await check.ensure_live(who)
        except RevokedSession:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "the ended session is still accepted"
        await asyncio.sleep(0.002)


async def test_a_live_session_passes_and_is_then_served_from_the_cache(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    alice = await rows.user_with_session()
    await check.ensure_live(alice)  # a miss: the database answers, and the cache learns
    assert (check.cache.stats.hits, check.cache.stats.misses) == (0, 1)
    await check.ensure_live(alice)
    assert (check.cache.stats.hits, check.cache.stats.misses) == (1, 1)
    assert check.cache.is_live(alice.sid or "", alice.sub)


async def test_a_signed_out_session_is_refused_at_once_though_it_was_cached(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    alice = await rows.user_with_session()
    await check.ensure_live(alice)
    await rows.db.execute("DELETE FROM session WHERE id = $1", alice.sid)
    await refused_within(check, alice, NOTIFY_WITHIN_SECONDS)


async def test_a_deleted_users_sessions_are_refused_at_once(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    alice = await rows.user_with_session()
    await check.ensure_live(alice)
    await rows.db.execute('DELETE FROM "user" WHERE id = $1', alice.sub)  # cascades
    await refused_within(check, alice, NOTIFY_WITHIN_SECONDS)


async def test_truncating_the_session_table_flushes_the_cache(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    people = [await rows.user_with_session() for _ in range(3)]
    for person in people:
        await check.ensure_live(person)
    await rows.db.execute("TRUNCATE session")
    for person in people:
        await refused_within(check, person, NOTIFY_WITHIN_SECONDS)


async def test_an_expired_session_or_another_users_session_is_refused(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    expired = await rows.user_with_session(expires_in=timedelta(seconds=-1))
    with pytest.raises(RevokedSession):
        await check.ensure_live(expired)
    alice, bob = await rows.user_with_session(), await rows.user_with_session()
    with pytest.raises(RevokedSession):
        await check.ensure_live(principal(bob.sub, alice.sid))


async def test_a_token_without_sid_lives_as_long_as_its_user(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    alice = await rows.user_with_session()
    no_sid = principal(alice.sub, None)
    await check.ensure_live(no_sid)
    await rows.db.execute('DELETE FROM "user" WHERE id = $1', alice.sub)
    with pytest.raises(RevokedSession):
        await check.ensure_live(no_sid)


async def test_a_lost_listener_stops_the_cache_from_answering(
    check: PostgresSessionCheck, rows: BetterAuthRows
) -> None:
    alice = await rows.user_with_session()
    await check.ensure_live(alice)
    await rows.db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'tandem-auth-session-listener'"
    )
    await rows.db.execute("DELETE FROM session WHERE id = $1", alice.sid)
    # Whether or not the listener heard the delete before it died, nothing stale is served.
    await refused_within(check, alice, 1.0)
    await asyncio.wait_for(check.cache.wait_listening(), 5)  # and it reconnects by itself


async def test_an_unreachable_database_is_unavailable_not_revoked(cluster_url: str) -> None:
    unreachable = cluster_url.rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere"
    sessions = PostgresSessionCheck(unreachable, query_timeout_seconds=1)
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await sessions.__aenter__()

    database = await _fresh_database(cluster_url, admin_plugin=False)
    async with PostgresSessionCheck(database, query_timeout_seconds=1) as sessions:
        admin = await asyncpg.connect(cluster_url)
        try:  # the database goes away under the check's pool
            await admin.execute(f"DROP DATABASE {database.rsplit('/', 1)[1]} WITH (FORCE)")
        finally:
            await admin.close()
        with pytest.raises(SessionCheckUnavailable):
            await sessions.ensure_live(principal("someone", "some-session"))


async def test_a_banned_user_is_refused_when_the_admin_plugin_is_installed(
    cluster_url: str,
) -> None:
    database = await _fresh_database(cluster_url, admin_plugin=True)
    connection = await asyncpg.connect(database)
    rows = BetterAuthRows(connection)
    try:
        async with PostgresSessionCheck(database) as sessions:
            await asyncio.wait_for(sessions.cache.wait_listening(), 5)
            alice = await rows.user_with_session()
            await sessions.ensure_live(alice)

            await connection.execute('UPDATE "user" SET banned = true WHERE id = $1', alice.sub)
            await refused_within(sessions, alice, NOTIFY_WITHIN_SECONDS)

            await connection.execute(
                'UPDATE "user" SET "banExpires" = now() - interval \'1 minute\' WHERE id = $1',
                alice.sub,
            )
            await sessions.ensure_live(alice)  # the ban has run out
    finally:
        await connection.close()


def test_the_trigger_statements_refuse_unsafe_identifiers() -> None:
    with pytest.raises(ValueError, match="channel"):
        session_trigger_statements(channel="x'); DROP TABLE session; --")


class FreezingRelay:
    """A TCP relay to PostgreSQL that can go silent without closing anything: a peer that
    died without a FIN, or a network that dropped the route."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.frozen = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: list[asyncio.Task[None]] = []
        self.port = 0

    async def __aenter__(self) -> FreezingRelay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [writer, upstream_writer]
        self._pipes += [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await source.read(65536):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # hold the bytes, and the socket, for ever
                sink.write(chunk)
                await sink.drain()


async def test_a_silent_listener_connection_is_noticed_within_five_seconds(
    database: str, rows: BetterAuthRows
) -> None:
    """A dead peer does not always close the socket; until the probe notices, the cache
    would trust notifications that can no longer arrive."""
    host_port = database.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    async with FreezingRelay(host, int(port)) as relay:
        through_relay = database.replace(host_port, f"127.0.0.1:{relay.port}")
        cache = LiveSessionCache(through_relay, reconnect_seconds=30)
        await cache.start()
        try:
            await asyncio.wait_for(cache.wait_listening(), 5)
            alice = await rows.user_with_session()
            assert alice.sid is not None
            cache.remember(
                alice.sid, alice.sub, live_until=time.time() + 60, checkpoint=cache.checkpoint()
            )
            assert cache.is_live(alice.sid, alice.sub)

            relay.frozen.set()
            frozen_at = time.monotonic()
            while cache.listening:
                assert time.monotonic() - frozen_at < 5.0, "the silent connection went unnoticed"
                await asyncio.sleep(0.05)
            assert not cache.is_live(alice.sid, alice.sub)
        finally:
            await cache.close()
