"""Call the ASGI app by hand, for what an HTTP client cannot express."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

OnStart = Callable[[int], Awaitable[None]]


@dataclass
class RawResponse:
    status: int = 0
    body: bytearray = field(default_factory=bytearray)


async def send_raw(
    app: Any,
    method: str,
    raw_path: bytes,
    headers: dict[str, str],
    body: bytes = b"",
    on_start: OnStart | None = None,
) -> RawResponse:
    """Send exactly ``raw_path``, decoded as uvicorn decodes it, with no URL normalising.

    httpx removes ``..`` segments before sending, so a raw traversal needs this.
    ``on_start`` runs when the app sends its status line, before the client could
    see it: what is true then is true for any client that got the response.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    response = RawResponse()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            if on_start is not None:
                await on_start(response.status)
        elif message["type"] == "http.response.body":
            response.body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return response
