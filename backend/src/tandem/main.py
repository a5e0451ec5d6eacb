"""The application factory: ``uvicorn tandem.main:create_app --factory``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from tandem_auth import JWKSCache, KeySource, SharedSecrets, TokenVerifier, VerifierSettings
from tandem_auth.postgres import PostgresSessionCheck

from tandem import health
from tandem.config import Settings
from tandem.db import Database
from tandem.db_url import libpq_url
from tandem.errors import install_error_handlers
from tandem.heap import settled_heap
from tandem.logging import configure_logging, flush_logs
from tandem.metrics import MetricsServer, RequestCollector, StateCollector
from tandem.metrics_middleware import RequestCounts, RequestMetricsMiddleware
from tandem.middleware import RequestEdge
from tandem.rate_limit import RateLimiter, parse_trusted_proxies
from tandem.rls_guard import check_row_level_security
from tandem.tasks.purge import IdempotencyPurge
from tandem.tasks.router import router as tasks_router

logger = logging.getLogger("tandem")
_DATABASE_WAIT_SECONDS = 30.0
# What a database that is still starting (or not reachable yet) raises.
_NOT_YET = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.InterfaceError,
)


def build_verifier(settings: Settings) -> TokenVerifier:
    if not settings.jwt_require_sid:
        logger.warning(
            "JWT_REQUIRE_SID=false: tokens without a session id are accepted, and a"
            " sign-out cannot end them before they expire",
            extra={"event": "config.sid_optional"},
        )
    keys: KeySource
    if settings.jwt_algorithm == "HS256":
        assert settings.hs256_secret is not None  # Settings refuses HS256 without one
        keys = SharedSecrets(settings.hs256_secret, settings.jwt_previous_secrets)
    else:
        keys = JWKSCache(settings.jwks_source, algorithm=settings.jwt_algorithm)
    return TokenVerifier(
        VerifierSettings(
            algorithm=settings.jwt_algorithm,
            issuer=settings.issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            require_sid=settings.jwt_require_sid,
        ),
        keys,
    )


async def _check_database(database: Database) -> None:
    """Wait for PostgreSQL to accept us, then refuse to start if RLS would not hold."""
    deadline = asyncio.get_running_loop().time() + _DATABASE_WAIT_SECONDS
    while True:
        try:
            async with database.app_role_transaction() as connection:
                await check_row_level_security(connection)
            return
        except _NOT_YET:
            if asyncio.get_running_loop().time() > deadline:
                raise
            logger.warning("waiting for the database", extra={"event": "db.waiting"})
            await asyncio.sleep(1.0)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(audit_log=settings.audit_log)
    verifier = build_verifier(settings)
    database = Database(settings)
    # /api/me asks the live-session cache, else runs the query in a transaction of ours.
    sessions = PostgresSessionCheck(
        libpq_url(settings.api_database_url or settings.database_url),
        lookup=database.session_live_until,
    )
    rate_limiter = RateLimiter(
        limits=settings.rate_limit_api, storage_url=settings.rate_limit_storage
    )
    # A registry per app, not the process-wide default: each app counts only its own.
    registry = CollectorRegistry()
    registry.register(
        StateCollector(
            verifier=verifier, sessions=sessions, database=database, rate_limiter=rate_limiter
        )
    )
    request_counts = RequestCounts()
    registry.register(RequestCollector(request_counts))
    metrics_server = (
        MetricsServer(registry, settings.metrics_port) if settings.metrics_port else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await database.open()
            await _check_database(database)
            await rate_limiter.start()
            async with sessions, verifier, IdempotencyPurge(database):
                if metrics_server is not None:
                    metrics_server.start()
                    logger.info(
                        "serving metrics",
                        extra={"event": "metrics.serving", "url": metrics_server.url},
                    )
                with settled_heap():  # start-up is done: what it made lives as long as we do
                    yield
        finally:
            if metrics_server is not None:
                metrics_server.stop()
            await rate_limiter.close()
            await database.close()
            logger.info("stopped; the database pool is closed", extra={"event": "app.stopped"})
            flush_logs()

    # /docs and /redoc from assets shipped in a package, not from a CDN: they work offline.
    app = FastAPIOffline(
        title="Tandem API",
        version="0.1.0",
        summary="Tasks for users signed in with Better Auth; every call carries its JWT.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.verifier = verifier
    app.state.database = database
    app.state.sessions = sessions
    app.state.readiness = health.ReadinessProbe(database.ping)
    app.state.rate_limiter = rate_limiter
    app.state.metrics = metrics_server
    install_error_handlers(app)
    app.add_middleware(
        RequestEdge,
        limiter=rate_limiter,
        trusted_proxies=parse_trusted_proxies(settings.trusted_proxies),
        max_body_bytes=settings.max_body_bytes,
    )
    if metrics_server is not None:  # outermost: it sees every answer, 413 and 429 too
        app.add_middleware(RequestMetricsMiddleware, counts=request_counts)
    app.include_router(health.router)
    app.include_router(tasks_router)
    return app
