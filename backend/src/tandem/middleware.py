"""The one pure ASGI layer every request crosses before routing: its id, its address's
limit, its size, its caching.

One layer rather than one per concern: each layer costs a call, and most a closure,
on every request (bench/README.md, "request middleware").
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.errors import ServiceUnavailable, app_error_response, error_response
from tandem.logging import request_id_var
from tandem.rate_limit import IPNetwork, RateLimited, RateLimiter, client_address

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestEdge:
    """For every HTTP request, in this order:

    1. adopt a well-formed ``X-Request-ID`` (the proxy sends one) or make one, and echo it
       back on the answer, whatever answers;
    2. give API answers ``Cache-Control: no-store``: they are per user;
    3. count an API request against its client address, before authentication, so that
       a flood of invalid tokens is limited too (429);
    4. refuse a body over ``max_body_bytes`` (413), whether or not it declares its length.

    A request cancelled before it answered (uvicorn cancels those still running when
    its graceful-shutdown timeout ends, and would answer them with a bare text 500)
    gets the API's 503 with ``Retry-After``: its transaction never committed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        trusted_proxies: Sequence[IPNetwork],
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted_proxies = tuple(trusted_proxies)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming, declared = b"", None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                declared = value
        request_id = incoming.decode("latin-1")
        if not _SAFE_REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        token = request_id_var.set(request_id)
        per_user = scope["path"].startswith("/api/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                if per_user:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            if per_user:
                try:
                    await self.limiter.check_address(client_address(scope, self.trusted_proxies))
                except RateLimited as exc:
                    await app_error_response(exc)(scope, receive, send_with_headers)
                    return
            try:
                body = await self._body(declared, receive)
            except _BodyTooLarge:
                too_large = error_response(
                    413, "payload_too_large", "The request body is too large"
                )
                await too_large(scope, receive, send_with_headers)
                return
            if body is None:  # the client left before sending all of it
                return
            await self.app(scope, _replay(body, receive), send_with_headers)
        except asyncio.CancelledError:
            if not started:
                await app_error_response(ServiceUnavailable())(scope, receive, send_with_headers)
            raise
        finally:
            request_id_var.reset(token)

    async def _body(self, declared: bytes | None, receive: Receive) -> bytes | None:
        """The whole body (small by construction, so read up front), or None if the client
        left first; raises ``_BodyTooLarge`` as soon as it is over the cap."""
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise _BodyTooLarge()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge()
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


class _BodyTooLarge(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
