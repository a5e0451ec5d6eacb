"""``BearerAuth``: the one credential, RFC 6750 answers, revocation, and the audit log."""

# No ``from __future__ import annotations``: the routes below are defined inside
# fixtures, and FastAPI must evaluate their annotations where ``auth`` is in scope.
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from _pytest.logging import LogCaptureFixture
from fastapi import Depends, FastAPI, Request

from tandem_auth import JWKSCache, Principal, RevokedSession, TokenVerifier, VerifierSettings
from tandem_auth.fastapi import AuthOutcome, BearerAuth, auth_outcome, require_user
from tests.conftest import KeyServer
from tests.signers import AUDIENCE, ISSUER, JWKS_URL, claims, signer

EDDSA = signer("EdDSA")
INVALID = 'Bearer realm="tandem_auth", error="invalid_token", error_description='


class RevokedSessions:
    """A ``SessionCheck`` that knows which sessions ended: the protocol, nothing more."""

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.asked: list[str | None] = []

    async def ensure_live(self, principal: Principal) -> None:
        self.asked.append(principal.sid)
        if principal.sid in self.ended:
            raise RevokedSession()


@pytest.fixture
def sessions() -> RevokedSessions:
    return RevokedSessions()


def make_app(key_server: KeyServer, sessions: RevokedSessions) -> tuple[FastAPI, TokenVerifier]:
    """An app with a protected route, one that names its user, and an open one."""
    key_server.publish(EDDSA.jwk())
    verifier = TokenVerifier(
        VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE),
        JWKSCache(JWKS_URL, transport=key_server.transport),
    )
    auth = BearerAuth(verifier, sessions=sessions)
    app = FastAPI(lifespan=auth.lifespan)
    auth.install(app)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(auth)]) -> dict[str, str]:
        return {"user_id": principal.sub}

    @app.get("/users/{user_id}/orders")
    async def orders(
        user_id: str, principal: Annotated[Principal, Depends(auth)], request: Request
    ) -> list[Any]:
        require_user(principal, user_id, request)
        return []

    @app.get("/open")
    async def open_route() -> list[Any]:
        return []

    return app, verifier


@pytest_asyncio.fixture
async def client(
    key_server: KeyServer, sessions: RevokedSessions
) -> AsyncIterator[httpx.AsyncClient]:
    app, _verifier = make_app(key_server, sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(EDDSA.sign(claims("alice"))))
    assert response.status_code == 200
    assert response.json() == {"user_id": "alice"}


async def test_lowercase_bearer_is_accepted(client: httpx.AsyncClient) -> None:
    token = EDDSA.sign(claims("alice"))
    assert (
        await client.get("/me", headers={"Authorization": f"bearer {token}"})
    ).status_code == 200


async def test_no_credentials_get_a_challenge_without_an_error_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tandem_auth"'
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer ", "Bearer a.b.c"]
)
async def test_a_bad_credential_gets_invalid_token(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get("/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(INVALID)
    assert response.json() == {"detail": "The access token is invalid", "code": "invalid_token"}


async def test_two_credentials_are_a_bad_request(client: httpx.AsyncClient) -> None:
    token = EDDSA.sign(claims())
    response = await client.get(f"/me?access_token={token}", headers=bearer(token))
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    two = [("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")]
    assert (await client.get("/me", headers=two)).status_code == 400


async def test_a_token_in_the_query_alone_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/me?access_token={EDDSA.sign(claims())}")
    assert response.status_code == 401


async def test_a_token_over_8_kib_is_refused(client: httpx.AsyncClient) -> None:
    token = EDDSA.sign(claims(name="x" * 8192))
    assert (await client.get("/me", headers=bearer(token))).status_code == 401


async def test_the_path_must_name_the_tokens_user(client: httpx.AsyncClient) -> None:
    token = EDDSA.sign(claims("alice"))
    assert (await client.get("/users/alice/orders", headers=bearer(token))).status_code == 200
    response = await client.get("/users/bob/orders", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_an_ended_session_is_refused_even_from_the_token_cache(
    client: httpx.AsyncClient, sessions: RevokedSessions
) -> None:
    token = EDDSA.sign(claims("alice", "s-9"))
    assert (await client.get("/me", headers=bearer(token))).status_code == 200
    sessions.ended.add("s-9")
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "The session behind the access token has ended"
    assert sessions.asked == ["s-9", "s-9"]


async def test_key_source_down_is_503_with_retry_after(key_server: KeyServer) -> None:
    key_server.status = 503
    auth = BearerAuth(
        TokenVerifier(
            VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE),
            JWKSCache(JWKS_URL, transport=key_server.transport),
        )
    )
    app = FastAPI(lifespan=auth.lifespan)
    auth.install(app)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(auth)]) -> dict[str, str]:
        return {"user_id": principal.sub}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/me", headers=bearer(EDDSA.sign(claims())))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["code"] == "key_source_unavailable"


def auth_events(caplog: LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (record.event, record.reason)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "tandem_auth"
    ]


async def test_acceptance_is_logged_once_per_token_and_every_refusal_every_time(
    client: httpx.AsyncClient, caplog: LogCaptureFixture
) -> None:
    token = EDDSA.sign(claims("alice"))
    with caplog.at_level(logging.INFO, "tandem_auth"):
        for _ in range(3):
            await client.get("/me", headers=bearer(token))
            await client.get("/me", headers=bearer("a.b.c"))
    assert auth_events(caplog) == [
        ("auth.accepted", "ok"),
        ("auth.rejected", "malformed"),
        ("auth.rejected", "malformed"),
        ("auth.rejected", "malformed"),
    ]
    assert token not in caplog.text
    assert "eyJ" not in caplog.text


async def test_each_requests_outcome_is_readable_by_an_outer_middleware(
    key_server: KeyServer, sessions: RevokedSessions
) -> None:
    """What an exporter of metrics sees: one outcome per request, cache hits included."""
    app, verifier = make_app(key_server, sessions)
    seen: list[AuthOutcome | None] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            seen.append(auth_outcome(scope))

    token = EDDSA.sign(claims("alice"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=recording)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for path, headers in [
                ("/users/alice/orders", bearer(token)),  # verified
                ("/users/alice/orders", bearer(token)),  # from the token cache: not logged
                ("/users/bob/orders", bearer(token)),  # accepted, then forbidden
                ("/users/alice/orders", bearer("not.a.token")),
                ("/open", {}),
            ]:
                await http.get(path, headers=headers)

    assert seen == [
        AuthOutcome("auth.accepted", "ok"),
        AuthOutcome("auth.accepted", "ok"),
        AuthOutcome("auth.forbidden", "user_mismatch"),
        AuthOutcome("auth.rejected", "malformed"),
        None,
    ]
    assert (verifier.token_cache_stats.hits, verifier.token_cache_stats.misses) == (2, 2)
