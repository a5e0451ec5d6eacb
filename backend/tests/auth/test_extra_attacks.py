"""Attacks on the verifier that SECURITY.md does not list, found in the independent pass.

Each test starts from what the verifier really trusts (the test key, a real
user and session) and changes one thing, as the listed attacks do.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tandem_auth import InvalidToken, JWKSCache, TokenVerifier, VerifierSettings
from tandem_auth.keys import KeysRemovedListener, VerificationKey

from tests.auth.conftest import AuthLog, InsertUser, StartApp
from tests.auth.expect import ME, assert_accepted, assert_invalid_token, bearer
from tests.auth.forge import claims_of, decoded_claims, header_for, sign_raw, split, token_for
from tests.conftest import MakeUser, User
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import AUDIENCE, ISSUER, MISSING, SigningKey, b64url

SESSION_ENDED = "The session behind the access token has ended"


# --- keys and kids ------------------------------------------------------------------------------


async def test_a_token_signed_by_one_published_key_under_the_kid_of_another_is_refused(
    start_app: StartApp, new_jwks_server, alice: User, auth_log: AuthLog
) -> None:
    """Both keys are trusted, but only for their own kid: the kid picks exactly one key."""
    k1, k2 = SigningKey(kid="k1"), SigningKey(kid="k2")
    server = new_jwks_server([k1.jwk(), k2.jwk()])
    async with start_app(jwks_url=server.url) as (_app, client):
        await assert_accepted(client, token_for(alice, k1), alice)
        await assert_accepted(client, token_for(alice, k2), alice)
        claims = claims_of(alice)

        swapped = sign_raw(header_for(k1, kid="k2"), claims, k1)
        response = await client.get(ME, headers=bearer(swapped))

        assert_invalid_token(response, token=swapped, claims=claims)
        assert auth_log.last_reason == "bad_signature"
        assert server.fetches == 1  # a known kid: no refetch either


def _with_raw_header(token: str, header: bytes) -> str:
    """``token``'s payload and signature under a hand-written header (duplicates allowed)."""
    _, payload, signature = split(token)
    return f"{b64url(header)}.{payload}.{signature}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        # RFC 7515 §4: duplicates are refused, or the lexically last member wins, in every reader.
        (b'{"alg":"EdDSA","kid":"test-key-1","alg":"none"}', "alg_not_allowed"),
        (b'{"alg":"none","kid":"test-key-1","alg":"EdDSA"}', "bad_signature"),
        (b'{"alg":"EdDSA","kid":"test-key-1","kid":"../../dev/null"}', "bad_kid"),
        (b'{"alg":"EdDSA","kid":"test-key-1","typ":"JWT","typ":"at+jwt"}', "bad_typ"),
    ],
    ids=["alg_none_last", "alg_none_first", "bad_kid_last", "bad_typ_last"],
)
async def test_duplicate_header_members_cannot_smuggle_a_value_past_the_checks(
    client, alice: User, auth_log: AuthLog, header: bytes, reason: str
) -> None:
    """The header check and PyJWT both read the last duplicate, so they judge the same header.

    With the last ``alg`` EdDSA, the signature must still verify over the
    header as sent, which the kept signature (made over another header) does not.
    """
    await assert_accepted(client, alice.token, alice)
    forged = _with_raw_header(alice.token, header)

    response = await client.get(ME, headers=bearer(forged))

    assert_invalid_token(response, token=forged, claims=decoded_claims(alice.token))
    assert auth_log.last_reason == reason


class AnyKidKeys:
    """A key source that serves its one key for any kid, none included: the verifier must cope."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key.private.public_key()

    ready = True
    algorithm = "EdDSA"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def keys_for(self, kid: str | None) -> Sequence[VerificationKey]:
        return (self._key,)

    def on_keys_removed(self, listener: KeysRemovedListener) -> None:
        return None


async def test_kid_is_required_by_the_verifier_in_eddsa_mode_whatever_its_key_source(
    alice: User, signing_key: SigningKey
) -> None:
    """DESIGN.md §4 step 3 is the verifier's own check, not only the JWKS cache's."""
    verifier = TokenVerifier(
        VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE),
        AnyKidKeys(signing_key),
    )
    assert (await verifier.verify(token_for(alice, signing_key))).sub == alice.id
    token = sign_raw(header_for(signing_key, kid=MISSING), claims_of(alice), signing_key)

    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(token)

    assert refused.value.reason == "bad_kid"


async def test_kid_is_required_by_the_key_cache_too(
    new_jwks_server, signing_key: SigningKey
) -> None:
    """The cache is reusable without the header check, so no kid never means "any key"."""
    server = new_jwks_server([signing_key.jwk()])
    cache = JWKSCache(server.url)
    await cache.start()
    try:
        with pytest.raises(InvalidToken) as refused:
            await cache.keys_for(None)
        assert refused.value.reason == "bad_kid"
        assert server.fetches == 1  # the startup fetch only
    finally:
        await cache.close()


async def test_jwks_is_fetched_directly_whatever_proxy_the_environment_names(
    new_jwks_server, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy from the environment would sit between us and our keys, and could swap them."""
    attacker = SigningKey(kid=signing_key.kid)
    real = new_jwks_server([signing_key.jwk()])
    proxy = new_jwks_server([attacker.jwk()])  # answers any URL it is asked for with its keys
    proxy_url = proxy.url.removesuffix("/jwks")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    cache = JWKSCache(real.url)
    await cache.start()
    try:
        keys = await cache.keys_for(signing_key.kid)
    finally:
        await cache.close()

    assert proxy.fetches == 0
    assert real.fetches == 1
    assert keys[0] != attacker.private.public_key()
    assert len(keys) == 1


# --- the Authorization header itself ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "B" * 9_000,  # no scheme separator at all
        "Basic " + "A" * 9_000,
        "Bearer " + "A" * 1_000_000,
        "Bearer " + " " * 9_000,
    ],
    ids=["no_space_9k", "basic_9k", "bearer_1mb", "bearer_spaces_9k"],
)
async def test_an_oversized_authorization_header_is_refused_as_too_long_whatever_it_holds(
    client, jwks: JWKSServer, auth_log: AuthLog, value: str
) -> None:
    """The header is capped before it is split into a scheme and a token."""
    started = time.perf_counter()
    response = await client.get(ME, headers={"Authorization": value})

    assert_invalid_token(response)
    assert auth_log.last_reason == "too_long"
    assert time.perf_counter() - started < 0.5
    assert jwks.fetches == 0


# --- claims -------------------------------------------------------------------------------------

ODD_SESSION_IDS: dict[str, str] = {
    "empty": "",
    "too_long_65": "s" * 65,
    "newline": "sess\nion",
    "space": "sess ion",
    "sql": "x' OR '1'='1",
    "fullwidth": "\uff53\uff49\uff44",
}


@pytest.mark.parametrize("variant", list(ODD_SESSION_IDS))
async def test_sid_that_is_not_a_session_id_is_refused_even_for_a_real_session(
    client,
    alice: User,
    superuser_engine: AsyncEngine,
    signing_key: SigningKey,
    auth_log: AuthLog,
    variant: str,
) -> None:
    sid = ODD_SESSION_IDS[variant]
    async with superuser_engine.begin() as connection:
        await connection.execute(
            text(
                'INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId") '
                "VALUES (:sid, now() + interval '1 day', :token, now(), :uid)"
            ),
            {"sid": sid, "token": secrets.token_hex(16), "uid": alice.id},
        )
    try:
        claims = claims_of(alice, sid=sid)
        token = sign_raw(header_for(signing_key), claims, signing_key)

        response = await client.get(ME, headers=bearer(token))

        assert_invalid_token(response, token=token, claims=claims)
        assert auth_log.last_reason == "bad_session_id"
    finally:
        async with superuser_engine.begin() as connection:
            await connection.execute(text("DELETE FROM session WHERE id = :sid"), {"sid": sid})


@pytest.mark.parametrize("sid", [1, 1.5, True, ["x"], {"id": "x"}], ids=repr)
async def test_sid_of_another_type_is_refused_not_a_500(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, sid: Any
) -> None:
    claims = claims_of(alice, sid=sid)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    for url in (ME, alice.tasks_url):
        response = await client.get(url, headers=bearer(token))
        assert_invalid_token(response, token=token)
        assert auth_log.last_reason == "bad_session_id"


@pytest.mark.parametrize("nbf", ["soon", "", [1], {"t": 1}, None], ids=repr)
async def test_nbf_of_the_wrong_type_is_refused_not_a_500(
    client, alice: User, signing_key: SigningKey, nbf: Any
) -> None:
    claims = claims_of(alice, nbf=nbf)
    token = sign_raw(header_for(signing_key), claims, signing_key)

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)


async def test_a_token_outlives_neither_its_user_nor_a_user_recreated_with_the_same_id(
    client,
    make_user: MakeUser,
    insert_user: InsertUser,
    superuser_engine: AsyncEngine,
    signing_key: SigningKey,
) -> None:
    """Deleting a user cascades to their sessions; a new user under the old id has new ones."""
    old = await make_user()
    await assert_accepted(client, old.token, old)
    async with superuser_engine.begin() as connection:
        await connection.execute(text('DELETE FROM "user" WHERE id = :id'), {"id": old.id})

    reborn = await insert_user(old.id)

    for url in (ME, old.tasks_url):
        response = await client.get(url, headers=bearer(old.token))
        assert assert_invalid_token(response, token=old.token) == SESSION_ENDED
    await assert_accepted(client, token_for(reborn, signing_key), reborn)


# --- the request id -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["x" * 65, "a b", 'a"b', "a;b=c", "../../etc/passwd", "é", "<script>"],
    ids=["too_long", "space", "quote", "semicolon", "traversal", "non_ascii", "markup"],
)
async def test_a_hostile_request_id_is_replaced_not_echoed(
    client, alice: User, request_id: str
) -> None:
    """The id is echoed in a header and logged with every event, so only a safe one is adopted."""
    response = await client.get(
        ME, headers={**alice.headers, "X-Request-ID": request_id.encode("latin-1")}
    )

    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert echoed != request_id
    assert len(echoed) == 32
    assert int(echoed, 16) >= 0
    assert request_id not in json.dumps(dict(response.headers))
