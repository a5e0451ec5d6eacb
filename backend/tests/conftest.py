"""Fixtures: a real migrated PostgreSQL, a real JWKS server, and the real app.

Nothing here mocks the verifier or the database. Tokens are signed with keys
the app really trusts (``support.tokens``), users are real rows, and every
request goes through the ASGI app with its middleware and dependencies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tandem_stack.throwaway import throwaway_postgres

from tandem.config import Settings
from tandem.db_url import async_driver_url
from tandem.main import create_app
from tests.support.database import DATABASE, OWNER, MigratedDatabase, migrate, new_owner_password
from tests.support.jwks_server import JWKSServer
from tests.support.rows import insert_user
from tests.support.tokens import (
    AUDIENCE,
    HS256_SECRET,
    ISSUER,
    SigningKey,
    claims_for,
    sign_eddsa,
    sign_hs256,
)


@pytest.fixture(scope="session")
def database() -> Iterator[MigratedDatabase]:
    with throwaway_postgres() as cluster:
        password = new_owner_password()
        cluster.ensure_database(owner=OWNER, password=password, database=DATABASE)
        owner_url = cluster.url(OWNER, password, DATABASE)
        migrate(owner_url)
        assert cluster.superuser_password is not None
        superuser_url = cluster.url("postgres", cluster.superuser_password, DATABASE)
        yield MigratedDatabase(owner_url=owner_url, superuser_url=superuser_url)


@pytest_asyncio.fixture(scope="session")
async def superuser_engine(database: MigratedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_driver_url(database.superuser_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey(kid="test-key-1")


@pytest.fixture(scope="session")
def jwks_server(signing_key: SigningKey) -> Iterator[JWKSServer]:
    server = JWKSServer().start()
    server.reset([signing_key.jwk()])
    yield server
    server.stop()


@pytest.fixture
def jwks(jwks_server: JWKSServer, signing_key: SigningKey) -> JWKSServer:
    """The JWKS server, healthy and publishing the test key, with its fetch count reset."""
    jwks_server.reset([signing_key.jwk()])
    return jwks_server


def make_settings(database: MigratedDatabase, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.owner_url,
        "better_auth_url": ISSUER,
        "jwt_audience": AUDIENCE,
        # Rate limits have their own tests; elsewhere they would only add noise.
        "rate_limit_api": "1000000/second",
        **overrides,
    }
    return Settings(**values)


@pytest_asyncio.fixture(scope="session")
async def eddsa_app(database: MigratedDatabase, jwks_server: JWKSServer) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(database, jwks_url=jwks_server.url))
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture(scope="session")
async def hs256_app(database: MigratedDatabase) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(database, jwt_algorithm="HS256", jwt_secret=HS256_SECRET))
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest_asyncio.fixture
async def client(eddsa_app: FastAPI, jwks: JWKSServer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(eddsa_app) as http:
        yield http


@pytest_asyncio.fixture
async def hs256_client(hs256_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(hs256_app) as http:
        yield http


@dataclass(frozen=True)
class User:
    """A real Better Auth user row with a live session, and a token for it."""

    id: str
    sid: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def tasks_url(self) -> str:
        return f"/api/{self.id}/tasks"


MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(superuser_engine: AsyncEngine, signing_key: SigningKey) -> MakeUser:
    async def make(*, hs256: bool = False) -> User:
        user_id, sid = await insert_user(superuser_engine)
        claims = claims_for(user_id, sid)
        token = sign_hs256(claims) if hs256 else sign_eddsa(claims, signing_key)
        return User(id=user_id, sid=sid, token=token)

    return make


@pytest_asyncio.fixture
async def alice(make_user: MakeUser) -> User:
    return await make_user()


@pytest_asyncio.fixture
async def bob(make_user: MakeUser) -> User:
    return await make_user()
