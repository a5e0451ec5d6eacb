"""Prometheus metrics of one API process, served on 127.0.0.1:``METRICS_PORT`` (off by default).

Metrics have a listener of their own, never a route on the API's port: what
they reveal (routes, outcomes, pool use) is for the operator, and a scrape
never competes with requests for the API's rate limits.

Only the requests are counted on the request path (``metrics_middleware``), in
plain numbers that ``RequestCollector`` reads.
Everything else is read when Prometheus scrapes: the caches' hit and miss
counts (tandem-auth's ``CacheStats``), the key set's age, the pool, the
rate-limit rejections and the Redis fallback are plain numbers their owners
keep anyway, so they cost nothing per request. Labels are bounded: route
templates, never raw paths; a fixed set of methods; reason codes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from tandem_auth import CacheStats, JWKSCache, TokenVerifier
from tandem_auth.postgres import PostgresSessionCheck

from tandem.db import Database
from tandem.metrics_middleware import LATENCY_BUCKETS, Latencies, RequestCounts
from tandem.rate_limit import RateLimiter

METRICS_HOST = "127.0.0.1"


class RequestCollector(Collector):
    """The requests the middleware counted, as Prometheus families."""

    def __init__(self, counts: RequestCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        # Copied in one step each: the event loop goes on counting in its own thread.
        series = list(self._counts.latencies.items())
        outcomes = list(self._counts.auth_outcomes.items())
        requests = CounterMetricFamily(
            "tandem_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        by_route: dict[tuple[str, str], list[Latencies]] = {}
        for (route, method, status), latencies in series:
            requests.add_metric([route, method, str(status)], sum(latencies.buckets))
            by_route.setdefault((route, method), []).append(latencies)
        yield requests
        durations = HistogramMetricFamily(
            "tandem_http_request_duration_seconds",
            "Time from a request's arrival to its last response byte, by route template.",
            labels=["route", "method"],
        )
        for labels, parts in by_route.items():
            counts = [sum(column) for column in zip(*(p.buckets for p in parts), strict=True)]
            cumulative = list(itertools.accumulate(counts))
            bounds = [*map(str, LATENCY_BUCKETS), "+Inf"]
            durations.add_metric(
                list(labels),
                buckets=list(zip(bounds, cumulative, strict=True)),
                sum_value=sum(p.total_seconds for p in parts),
            )
        yield durations
        auth = CounterMetricFamily(
            "tandem_auth_outcomes",
            "Authentication outcomes, one per request that presented itself to the verifier.",
            labels=["event", "reason"],
        )
        for (event, reason), count in outcomes:
            auth.add_metric([event, reason], count)
        yield auth


class StateCollector(Collector):
    """Reads, at scrape time, what the app's parts count for themselves."""

    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        sessions: PostgresSessionCheck,
        database: Database,
        rate_limiter: RateLimiter,
    ) -> None:
        self._verifier = verifier
        self._sessions = sessions
        self._database = database
        self._rate_limiter = rate_limiter

    def collect(self) -> Iterator[Metric]:
        yield from _cache("tandem_token_cache", "verified-token", self._verifier.token_cache_stats)
        yield from _cache("tandem_live_session_cache", "live-session", self._sessions.cache.stats)
        yield from self._key_set()
        yield from self._pool()
        yield from self._rate_limits()

    def _key_set(self) -> Iterator[Metric]:
        keys = self._verifier.keys
        if not isinstance(keys, JWKSCache):
            return  # HS256: shared secrets, no key set to age
        yield GaugeMetricFamily(
            "tandem_jwks_keys", "Keys in the cached key set.", value=len(keys.kids)
        )
        if keys.refreshed_at is not None:
            yield GaugeMetricFamily(
                "tandem_jwks_age_seconds",
                "Seconds since the key set was last fetched successfully.",
                value=time.time() - keys.refreshed_at,
            )

    def _pool(self) -> Iterator[Metric]:
        pool = self._database.pool
        yield GaugeMetricFamily(
            "tandem_db_pool_size", "Connections the pool may hold.", value=pool.get_max_size()
        )
        connections = GaugeMetricFamily(
            "tandem_db_pool_connections",
            "The pool's open connections: in use by a request, or idle.",
            labels=["state"],
        )
        idle = pool.get_idle_size()
        connections.add_metric(["in_use"], pool.get_size() - idle)
        connections.add_metric(["idle"], idle)
        yield connections

    def _rate_limits(self) -> Iterator[Metric]:
        rejections = CounterMetricFamily(
            "tandem_rate_limit_rejections",
            "Requests refused with 429, by the count that refused them.",
            labels=["kind"],
        )
        for kind in ("address", "user"):
            rejections.add_metric([kind], self._rate_limiter.rejections.get(kind, 0))
        yield rejections
        shared = self._rate_limiter.shared
        yield GaugeMetricFamily(
            "tandem_rate_limit_degraded",
            "1 while Redis is not answering and this process counts rate limits alone.",
            value=int(shared is not None and shared.degraded),
        )
        yield CounterMetricFamily(
            "tandem_rate_limit_redis_outages",
            "Times this process fell back from Redis to its own counters.",
            value=shared.outages if shared is not None else 0,
        )


def _cache(name: str, what: str, stats: CacheStats) -> Iterator[Metric]:
    family = CounterMetricFamily(
        f"{name}_lookups", f"Lookups in the {what} cache, by result.", labels=["result"]
    )
    family.add_metric(["hit"], stats.hits)
    family.add_metric(["miss"], stats.misses)
    yield family


class MetricsServer:
    """The metrics listener: a thread of prometheus-client's own, on 127.0.0.1 only."""

    def __init__(self, registry: CollectorRegistry, port: int) -> None:
        self._registry = registry
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{METRICS_HOST}:{self._port}/metrics"

    def start(self) -> None:
        self._server, self._thread = start_http_server(
            self._port, addr=METRICS_HOST, registry=self._registry
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
