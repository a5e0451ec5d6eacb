"""A PostgreSQL cluster of this package's own, which its tests may stop, kill and restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tandem.db_url import async_driver_url
from tests.support.api_server import PrivateCluster, private_cluster
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import SigningKey


@pytest.fixture(scope="package")
def _private_cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        yield cluster


@pytest_asyncio.fixture
async def private(_private_cluster: PrivateCluster) -> AsyncIterator[PrivateCluster]:
    """The private cluster, running again after the test whatever the test did to it."""
    yield _private_cluster
    await asyncio.to_thread(_private_cluster.postgres.start)


@pytest_asyncio.fixture
async def private_superuser(private: PrivateCluster) -> AsyncIterator[AsyncEngine]:
    """The private cluster's superuser, with no pool: the server restarts under it."""
    engine = create_async_engine(
        async_driver_url(private.database.superuser_url), poolclass=NullPool
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="package")
def process_key() -> SigningKey:
    return SigningKey(kid="process-key")


@pytest.fixture(scope="package")
def process_jwks(process_key: SigningKey) -> Iterator[JWKSServer]:
    """The JWKS that API processes started by this package's tests read their key from."""
    server = JWKSServer().start()
    server.reset([process_key.jwk()])
    yield server
    server.stop()
