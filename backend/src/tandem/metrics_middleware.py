"""Pure ASGI middleware that counts and times every request for ``tandem.metrics``.

Installed only when ``METRICS_PORT`` is set. Its cost per request is two
clock reads, a dictionary lookup and three updates of prometheus-client's
children (``bench``, "metrics"). The label children are kept per (route,
method, status): ``labels()`` itself takes a lock and builds a key each time.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tandem_auth.fastapi import auth_outcome

from tandem.metrics import RequestMetrics

# Any other method (a client may send any token) counts as "other": labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request with no route: not found, or refused before routing (address limit, body cap).
NO_ROUTE = "none"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self._metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what uvicorn answers for an app that raised before it started one
        scope.setdefault("state", {})  # shared with the request, so its auth outcome shows

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route: Any = scope.get("route")
        template: str = getattr(route, "path", NO_ROUTE)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        key = (template, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._metrics.requests.labels(template, method, str(status)),
                self._metrics.latency.labels(template, method),
            )
            self._children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(seconds)
        outcome = auth_outcome(scope)
        if outcome is not None:
            self._metrics.auth_outcomes.labels(outcome.event, outcome.reason).inc()
