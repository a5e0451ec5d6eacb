"""Request bodies the API must refuse cleanly: too large, too deep, or not JSON.

SECURITY.md, "Mass assignment and input": a body over 64 KiB → 413, a JSON
body nested 200k deep → 400/422, text/plain or form-encoded → 415/422.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import User
from tests.support.rows import task_rows_of
from tests.tasks.helpers import create_task, error_body

LIMIT = 64 * 1024


def _json_body_of_size(size: int) -> bytes:
    """A valid create body of exactly ``size`` bytes (padding is JSON whitespace)."""
    body = b'{"title": "sized"}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def _chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _json(user: User) -> dict[str, str]:
    return {**user.headers, "Content-Type": "application/json"}


async def test_a_body_at_the_limit_is_accepted(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.post(
        alice.tasks_url, headers=_json(alice), content=_json_body_of_size(LIMIT)
    )
    assert response.status_code == 201, response.text


async def test_a_body_over_the_limit_with_content_length_is_413(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine
) -> None:
    body = _json_body_of_size(LIMIT + 1)
    response = await client.post(alice.tasks_url, headers=_json(alice), content=body)
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    assert response.status_code == 413
    assert error_body(response)["code"] == "payload_too_large"
    assert await task_rows_of(superuser_engine, alice.id) == []


@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT])
async def test_a_chunked_body_over_the_limit_without_content_length_is_413(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, size: int
) -> None:
    response = await client.post(
        alice.tasks_url, headers=_json(alice), content=_chunks(_json_body_of_size(size))
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert error_body(response)["code"] == "payload_too_large"
    assert await task_rows_of(superuser_engine, alice.id) == []


async def test_a_chunked_body_under_the_limit_is_accepted(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post(
        alice.tasks_url, headers=_json(alice), content=_chunks(_json_body_of_size(LIMIT), 1000)
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("declared", ["abc", "-1", "99999999999999999999999"])
async def test_a_nonsense_content_length_is_refused(
    client: httpx.AsyncClient, alice: User, declared: str
) -> None:
    response = await client.post(
        alice.tasks_url,
        headers={**_json(alice), "Content-Length": declared},
        content=b'{"title": "x"}',
    )
    assert response.status_code in {400, 413}


async def test_an_oversized_body_is_refused_before_authentication(
    client: httpx.AsyncClient, alice: User
) -> None:
    """The size cap protects the verifier and the parser, so it needs no valid token."""
    response = await client.post(
        alice.tasks_url,
        headers={"Content-Type": "application/json"},
        content=_json_body_of_size(LIMIT + 1),
    )
    assert response.status_code == 413


@pytest.mark.parametrize("depth", [200_000, 1_000_000])
async def test_json_nested_hundreds_of_thousands_deep_is_refused(
    client: httpx.AsyncClient, alice: User, depth: int
) -> None:
    body = b'{"title": ' + b"[" * depth + b"]" * depth + b"}"
    response = await client.post(alice.tasks_url, headers=_json(alice), content=body)
    assert response.status_code in {400, 413, 422}


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 20_000 + b"]" * 20_000,
        b'{"title": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        b'{"title": "t", "x": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}",
        b'{"title": ' + b"[" * 30_000,  # unterminated
    ],
    ids=["bare array", "in title", "objects in unknown key", "unterminated"],
)
async def test_json_nested_deep_but_under_the_size_limit_is_refused_not_a_500(
    client: httpx.AsyncClient, alice: User, superuser_engine: AsyncEngine, body: bytes
) -> None:
    assert len(body) < LIMIT
    for method, url in (
        ("POST", alice.tasks_url),
        ("PATCH", f"{alice.tasks_url}/{(await create_task(client, alice))['id']}"),
    ):
        response = await client.request(method, url, headers=_json(alice), content=body)
        assert response.status_code in {400, 422}, (method, response.status_code)
        error_body(response)
    assert [row["title"] for row in await task_rows_of(superuser_engine, alice.id)] == ["a task"]


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"title": "smuggled"}'),
        ("text/plain;charset=UTF-8", b'{"title": "smuggled"}'),
        ("application/x-www-form-urlencoded", b"title=smuggled"),
        ("application/x-www-form-urlencoded", b'{"title": "smuggled"}'),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nsmuggled\r\n--b--\r\n',
        ),
        ("application/xml", b"<title>smuggled</title>"),
    ],
    ids=["text", "text charset", "form", "form with json", "multipart", "xml"],
)
async def test_bodies_that_are_not_json_are_refused(
    client: httpx.AsyncClient,
    alice: User,
    superuser_engine: AsyncEngine,
    content_type: str,
    content: bytes,
) -> None:
    response = await client.post(
        alice.tasks_url,
        headers={**alice.headers, "Content-Type": content_type},
        content=content,
    )
    assert response.status_code in {415, 422}, response.text
    error_body(response)
    assert await task_rows_of(superuser_engine, alice.id) == []


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b'{"title": "t"', b"\xff\xfe{}", b"null", b'"title"', b"[]"],
    ids=repr,
)
async def test_malformed_json_is_a_validation_error(
    client: httpx.AsyncClient, alice: User, content: bytes
) -> None:
    response = await client.post(alice.tasks_url, headers=_json(alice), content=content)
    assert response.status_code in {400, 422}, response.text
    error_body(response)
