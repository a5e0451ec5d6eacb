"""Fixtures for the verifier's attack tests: an audit-log tap, throwaway apps and servers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.main import create_app
from tests.conftest import User, client_for, make_settings
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer


class AuthLog(logging.Handler):
    """Keeps the records of the ``tandem_auth`` logger itself (one per auth outcome)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "tandem_auth":
            self.records.append(record)

    @property
    def reasons(self) -> list[str]:
        return [record.reason for record in self.records]  # type: ignore[attr-defined]

    @property
    def last_reason(self) -> str:
        assert self.records, "no auth event was logged"
        reason: str = self.records[-1].reason  # type: ignore[attr-defined]
        return reason

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def auth_log() -> Iterator[AuthLog]:
    """The reason codes the verifier logged: they show which check refused a token."""
    logger = logging.getLogger("tandem_auth")
    handler = AuthLog()
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


@pytest.fixture(scope="session")
def _idle_jwks_servers() -> Iterator[list[JWKSServer]]:
    """Spare JWKS servers, reused across tests: stopping one costs half a second."""
    idle: list[JWKSServer] = []
    yield idle
    for server in idle:
        server.stop()


@pytest.fixture
def new_jwks_server(
    _idle_jwks_servers: list[JWKSServer],
) -> Iterator[Callable[[list[dict[str, Any]]], JWKSServer]]:
    """Extra loopback JWKS servers for one test, each healthy and with a zero fetch count."""
    taken: list[JWKSServer] = []

    def take(keys: list[dict[str, Any]]) -> JWKSServer:
        server = _idle_jwks_servers.pop() if _idle_jwks_servers else JWKSServer().start()
        server.reset(keys)
        taken.append(server)
        return server

    yield take
    for server in taken:
        server.reset([])
        _idle_jwks_servers.append(server)


StartApp = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def start_app(database: MigratedDatabase) -> StartApp:
    """A fresh app (own verifier, own JWKS cache) whose lifespan runs for one block."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(make_settings(database, **overrides))
        async with app.router.lifespan_context(app), client_for(app) as http:
            yield app, http

    return start


InsertUser = Callable[[str], Awaitable[User]]


@pytest_asyncio.fixture
async def insert_user(superuser_engine: AsyncEngine) -> AsyncIterator[InsertUser]:
    """A real user row and live session under an id the test chooses (odd ids included).

    The token field is empty: the test signs whatever token it needs. The rows
    are deleted afterwards, so an id such as "" can be used by more than one test.
    """
    inserted: list[str] = []

    async def insert(user_id: str) -> User:
        inserted.append(user_id)
        sid = secrets.token_hex(16)
        async with superuser_engine.begin() as connection:
            await connection.execute(
                text(
                    'INSERT INTO "user" (id, name, email, "emailVerified") '
                    "VALUES (:id, 'Odd', :email, false)"
                ),
                {"id": user_id, "email": f"{secrets.token_hex(8)}@example.test"},
            )
            await connection.execute(
                text(
                    'INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId") '
                    "VALUES (:sid, now() + interval '1 day', :token, now(), :id)"
                ),
                {"sid": sid, "token": secrets.token_hex(16), "id": user_id},
            )
        return User(id=user_id, sid=sid, token="")

    yield insert
    async with superuser_engine.begin() as connection:
        for user_id in inserted:
            await connection.execute(text('DELETE FROM "user" WHERE id = :id'), {"id": user_id})
