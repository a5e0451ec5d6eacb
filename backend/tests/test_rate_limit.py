"""API rate limits: per user and per client address, with 429 and Retry-After.

Each test runs its own app with a small limit, so counts start at zero.
The test client connects from 127.0.0.1; tests that need distinct client
addresses trust that hop as a proxy and send ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.rate_limit import client_address, parse_trusted_proxies
from tests.conftest import MakeUser, User, make_settings
from tests.support.api_server import running_api
from tests.support.apps import serving
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

LIMIT = 5


def _from(address: str, user: User | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    return {**headers, **user.headers} if user else headers


async def test_a_user_over_the_limit_gets_429_and_other_users_do_not(
    database: MigratedDatabase, jwks: JWKSServer, make_user: MakeUser
) -> None:
    alice, bob = await make_user(), await make_user()
    settings = make_settings(
        database, jwks_url=jwks.url, rate_limit_api=f"{LIMIT}/minute", trusted_proxies=["127.0.0.1"]
    )
    async with serving(settings) as (_app, http):
        # Alice roams between addresses, so only her per-user count can stop her.
        for_alice = [_from(f"10.0.0.{n}", alice) for n in range(1, LIMIT + 2)]
        statuses = [
            (await http.get(alice.tasks_url, headers=headers)).status_code for headers in for_alice
        ]
        limited = await http.get(alice.tasks_url, headers=_from("10.0.1.1", alice))
        bobs = await http.get(bob.tasks_url, headers=_from("10.0.2.1", bob))

    assert statuses[:LIMIT] == [200] * LIMIT
    assert statuses[LIMIT] == 429
    assert limited.status_code == 429
    assert limited.json() == {"detail": "Too many requests; retry later", "code": "rate_limited"}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["Cache-Control"] == "no-store"
    assert bobs.status_code == 200


async def test_invalid_tokens_count_against_their_address(
    database: MigratedDatabase, jwks: JWKSServer, alice: User
) -> None:
    settings = make_settings(
        database, jwks_url=jwks.url, rate_limit_api=f"{LIMIT}/minute", trusted_proxies=["127.0.0.1"]
    )
    bad = {"Authorization": "Bearer not.a.token", "X-Forwarded-For": "10.9.9.9"}
    async with serving(settings) as (_app, http):
        statuses = [(await http.get("/api/me", headers=bad)).status_code for _ in range(LIMIT)]
        # Even a valid token is refused from that address now, before it is verified.
        then = await http.get("/api/me", headers=_from("10.9.9.9", alice))
        elsewhere = await http.get("/api/me", headers=_from("10.9.9.10", alice))

    assert statuses == [401] * LIMIT
    assert then.status_code == 429
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("route", ["tasks", "me"])
async def test_a_revoked_token_spends_its_address_budget_not_its_owners(
    database: MigratedDatabase,
    jwks: JWKSServer,
    make_user: MakeUser,
    superuser_engine: AsyncEngine,
    signing_key: SigningKey,
    route: str,
) -> None:
    """Someone replaying a signed-out session's token must not lock its owner out: the
    per-user count happens only once the session check has passed."""
    alice = await make_user()
    stolen = User(id=alice.id, sid=alice.sid, token=alice.token)
    settings = make_settings(
        database, jwks_url=jwks.url, rate_limit_api=f"{LIMIT}/minute", trusted_proxies=["127.0.0.1"]
    )
    url = alice.tasks_url if route == "tasks" else "/api/me"
    async with serving(settings) as (_app, http):
        async with superuser_engine.begin() as connection:  # the stolen token's session ends
            await connection.execute(
                text("DELETE FROM session WHERE id = :sid"), {"sid": alice.sid}
            )
        replayed = [
            (await http.get(url, headers=_from(f"10.3.0.{n}", stolen))).status_code
            for n in range(1, 2 * LIMIT)
        ]
        fresh_sid = secrets.token_hex(16)
        async with superuser_engine.begin() as connection:  # alice signs in again
            await connection.execute(
                text(
                    'INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId") '
                    "VALUES (:sid, now() + interval '1 day', :token, now(), :uid)"
                ),
                {"sid": fresh_sid, "token": secrets.token_hex(16), "uid": alice.id},
            )
        token = sign_eddsa(claims_for(alice.id, fresh_sid), signing_key)
        again = User(id=alice.id, sid=fresh_sid, token=token)
        mine = [
            (await http.get(url, headers=_from(f"10.4.0.{n}", again))).status_code
            for n in range(1, LIMIT + 1)
        ]

    assert replayed == [401] * (2 * LIMIT - 1)
    assert mine == [200] * LIMIT


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    database: MigratedDatabase, jwks: JWKSServer, alice: User
) -> None:
    settings = make_settings(database, jwks_url=jwks.url, rate_limit_api=f"{LIMIT}/minute")
    async with serving(settings) as (_app, http):
        statuses = [
            (await http.get("/api/me", headers=_from(f"10.1.0.{n}"))).status_code
            for n in range(LIMIT + 1)
        ]
    # Every spoofed address counted as the one real peer.
    assert statuses == [401] * LIMIT + [429]


async def test_health_and_readiness_are_not_limited(
    database: MigratedDatabase, jwks: JWKSServer
) -> None:
    settings = make_settings(database, jwks_url=jwks.url, rate_limit_api="1/minute")
    async with serving(settings) as (_app, http):
        statuses = {(await http.get("/health")).status_code for _ in range(5)}
    assert statuses == {200}


TRUSTED = parse_trusted_proxies(["127.0.0.1", "10.0.0.0/8"])


def _scope(peer: str, forwarded: str | None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 5000), "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # untrusted peer: its header is ignored
        ("127.0.0.1", None, "127.0.0.1"),  # a trusted proxy that forwarded nothing
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, 10.0.0.5", "198.51.100.1"),  # through two trusted hops
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # left of the client: forgeable
        ("127.0.0.1", "10.0.0.2, 10.0.0.3", "127.0.0.1"),  # only trusted hops
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address_trusts_forwarded_for_only_from_trusted_hops(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_address(_scope(peer, forwarded), TRUSTED) == expected


def test_trusted_proxies_accept_addresses_and_networks() -> None:
    assert parse_trusted_proxies(["127.0.0.1", "10.0.0.0/8"]) == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    )


async def test_the_served_api_trusts_no_forwarded_for_unless_told(
    database: MigratedDatabase, jwks: JWKSServer, tmp_path: Path
) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default, before the API's own
    TRUSTED_PROXIES runs; served as the stack serves it, only TRUSTED_PROXIES decides."""
    async with (
        running_api(
            database_url=database.owner_url,
            jwks_url=jwks.url,
            log_path=tmp_path / "api.log",
            env={"RATE_LIMIT_API": f"{LIMIT}/minute", "TRUSTED_PROXIES": ""},
        ) as api,
        httpx.AsyncClient(base_url=api.url) as http,
    ):
        statuses = [
            (await http.get("/api/me", headers=_from(f"10.5.0.{n}"))).status_code
            for n in range(1, LIMIT + 2)
        ]
    # Every claimed address is the same peer, 127.0.0.1, whose budget runs out.
    assert statuses == [401] * LIMIT + [429]
