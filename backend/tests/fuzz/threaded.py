"""The app on an event loop of its own, behind a synchronous client.

Hypothesis runs synchronous tests. The app is started with ``serving`` (its
real lifespan, and an ``httpx`` client over ASGI) on a loop in a thread of
its own, and each request is handed to that loop, so its engine, key cache
and session listener never meet the test session's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx

from tandem.config import Settings
from tests.support.apps import serving

T = TypeVar("T")
_REQUEST_TIMEOUT_SECONDS = 30.0


class ThreadedClient:
    """``request``/``get`` block until the app, running on its own loop, answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop, http: httpx.AsyncClient) -> None:
        self._loop = loop
        self._http = http

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=_REQUEST_TIMEOUT_SECONDS)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.run(self._http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)


@contextlib.contextmanager
def threaded_app(settings: Settings) -> Iterator[ThreadedClient]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-app", daemon=True)
    thread.start()
    started = threading.Event()
    stop: asyncio.Event | None = None
    client: ThreadedClient | None = None

    async def serve() -> None:
        nonlocal stop, client
        stop = asyncio.Event()
        async with serving(settings) as (_app, http):
            client = ThreadedClient(loop, http)
            started.set()
            await stop.wait()

    served = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        while not started.wait(0.05):
            if served.done():
                served.result()  # startup failed: raise its error here
        assert client is not None
        yield client
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        served.result(timeout=_REQUEST_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
