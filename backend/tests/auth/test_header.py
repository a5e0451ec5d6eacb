"""SECURITY.md "Header": the JOSE header is attacker-controlled until the signature checks out.

Tokens are signed with the trusted key, so only the header check under test
can refuse them; ``jwks.fetches`` shows that no refused header reached the
key source.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from tandem_auth.jwks import UNKNOWN_KID_COOLDOWN_SECONDS

from tests.auth.conftest import AuthLog, StartApp
from tests.auth.expect import ME, assert_accepted, assert_invalid_token, bearer
from tests.auth.forge import claims_of, header_for, sign_raw
from tests.conftest import User
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import MISSING, SigningKey


async def assert_refused(
    client: Any, token: str, auth_log: AuthLog, reason: str, claims: dict[str, Any] | None = None
) -> None:
    response = await client.get(ME, headers=bearer(token))
    assert_invalid_token(response, token=token, claims=claims)
    assert auth_log.last_reason == reason


# --- kid ---------------------------------------------------------------------------------------

BAD_KIDS: dict[str, tuple[Any, str]] = {
    "missing": (MISSING, "bad_kid"),
    "null": (None, "bad_kid"),
    "number": (1, "bad_kid"),
    "true": (True, "bad_kid"),
    "list": (["test-key-1"], "bad_kid"),
    "object": ({"kid": "test-key-1"}, "bad_kid"),
    "empty": ("", "bad_kid"),
    "129_chars": ("k" * 129, "bad_kid"),
    "10_kb": ("k" * 10_240, "too_long"),  # the token is over 8 KiB before the kid is read
    "newline": ("test-key-1\n", "bad_kid"),
    "crlf_log_line": ('test-key-1\r\n{"event":"auth.accepted"}', "bad_kid"),
    "nul": ("test-key-1\x00", "bad_kid"),
    "tab": ("test-key-1\t", "bad_kid"),
    "escape": ("\x1b[2Jtest-key-1", "bad_kid"),
    "trailing_space": ("test-key-1 ", "bad_kid"),
    "non_ascii": ("test-key-\u0661", "bad_kid"),
}


@pytest.mark.parametrize("variant", list(BAD_KIDS))
async def test_malformed_kid_is_refused_without_a_jwks_fetch(
    client, jwks: JWKSServer, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    kid, reason = BAD_KIDS[variant]
    claims = claims_of(alice)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)
    token = sign_raw(header_for(signing_key, kid=kid), claims, signing_key)

    await assert_refused(client, token, auth_log, reason, claims)

    assert jwks.fetches == 0


HOSTILE_KIDS = {
    "path_traversal": "../../dev/null",
    "absolute_path": "/dev/null",
    "encoded_traversal": "..%2f..%2fdev%2fnull",
    "file_url": "file:///dev/null",
    "sql_quote": "' OR '1'='1",
    "sql_union": "x' UNION SELECT 'secret' --",
    "sql_stacked": "1; DROP TABLE session; --",
    "shell_subst": "$(touch {marker})",
    "shell_backticks": "`touch {marker}`",
    "shell_pipe": "x | touch {marker}",
    "shell_semicolon": "x; touch {marker}",
    "url": "http://127.0.0.1:1/jwks",
}


@pytest.mark.parametrize("variant", list(HOSTILE_KIDS))
async def test_kid_with_path_sql_or_shell_text_is_refused(
    client,
    jwks: JWKSServer,
    alice: User,
    signing_key: SigningKey,
    auth_log: AuthLog,
    tmp_path: Path,
    variant: str,
) -> None:
    marker = tmp_path / "pwned"
    kid = HOSTILE_KIDS[variant].format(marker=marker)
    token = sign_raw(header_for(signing_key, kid=kid), claims_of(alice), signing_key)

    await assert_refused(client, token, auth_log, "bad_kid")

    assert not marker.exists()
    assert jwks.fetches == 0
    await assert_accepted(client, alice.token, alice)


async def test_a_thousand_unknown_kids_at_once_cost_at_most_one_fetch_per_cooldown(
    start_app: StartApp, new_jwks_server, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    server = new_jwks_server([signing_key.jwk()])
    claims = claims_of(alice)

    async def burst(client: Any, tag: str, count: int) -> None:
        tokens = [
            sign_raw(header_for(signing_key, kid=f"unknown-{tag}-{i}"), claims, signing_key)
            for i in range(count)
        ]
        responses = await asyncio.gather(*(client.get(ME, headers=bearer(t)) for t in tokens))
        for token, response in zip(tokens, responses, strict=True):
            assert_invalid_token(response, token=token)

    # A fresh app: its own key cache and fetch count, and no request limit in the way.
    async with start_app(jwks_url=server.url, rate_limit_api="1000000/second") as (_, client):
        assert server.fetches == 1  # at startup
        auth_log.clear()
        started = time.monotonic()
        await burst(client, "a", 1000)
        await burst(client, "b", 200)
        elapsed = time.monotonic() - started
        # Kids that arrive within the cooldown wait for its end and share one fetch then
        # (their key may have been published since): never more than one per cooldown.
        # (The server's clock would not do: the busy event loop delays when a fetch leaves.)
        assert 1 <= server.fetches - 1 <= 1 + elapsed / UNKNOWN_KID_COOLDOWN_SECONDS
        assert set(auth_log.reasons) == {"unknown_kid"}
        assert len(auth_log.reasons) == 1200
        await assert_accepted(client, alice.token, alice)


# --- parameters that name a key ----------------------------------------------------------------


def _key_params(
    signing_key: SigningKey, attacker: SigningKey, attacker_url: str
) -> dict[str, tuple[dict[str, Any], SigningKey]]:
    """Header additions, each with the key that signs the token."""
    certificate = "MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgb2YgYW4gYXR0YWNrZXI"
    return {
        "jku_attacker_url": ({"jku": attacker_url}, signing_key),
        "jku_signed_by_attacker": ({"jku": attacker_url}, attacker),
        "jku_our_own_url": ({"jku": "http://localhost:3000/api/auth/jwks"}, signing_key),
        "x5u": ({"x5u": attacker_url}, signing_key),
        "x5c": ({"x5c": [certificate]}, signing_key),
        "x5c_empty": ({"x5c": []}, signing_key),
        "jwk_the_real_key": ({"jwk": signing_key.jwk()}, signing_key),
        "jwk_signed_by_attacker": ({"jwk": attacker.jwk()}, attacker),
        "jku_null": ({"jku": None}, signing_key),
    }


KEY_PARAMS = [
    "jku_attacker_url",
    "jku_signed_by_attacker",
    "jku_our_own_url",
    "x5u",
    "x5c",
    "x5c_empty",
    "jwk_the_real_key",
    "jwk_signed_by_attacker",
    "jku_null",
]


@pytest.mark.parametrize("variant", KEY_PARAMS)
async def test_header_naming_a_key_is_refused_with_no_outbound_request(
    client,
    jwks: JWKSServer,
    new_jwks_server,
    alice: User,
    signing_key: SigningKey,
    auth_log: AuthLog,
    variant: str,
) -> None:
    attacker = SigningKey(kid=signing_key.kid)
    attacker_server = new_jwks_server([attacker.jwk()])
    extra, key = _key_params(signing_key, attacker, attacker_server.url)[variant]
    claims = claims_of(alice)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)
    token = sign_raw(header_for(signing_key, **extra), claims, key)

    await assert_refused(client, token, auth_log, "forbidden_header_param", claims)

    assert jwks.fetches == 0
    assert attacker_server.fetches == 0


# --- typ, crit, cty, alg -----------------------------------------------------------------------


@pytest.mark.parametrize("typ", [MISSING, "JWT"])
async def test_typ_absent_or_jwt_is_accepted(
    client, alice: User, signing_key: SigningKey, typ: Any
) -> None:
    token = sign_raw(header_for(signing_key, typ=typ), claims_of(alice), signing_key)
    await assert_accepted(client, token, alice)


@pytest.mark.parametrize(
    "typ", ["at+jwt", "AT+JWT", "JWE", "", "JOSE", "JOSE+JSON", "application/at+jwt", None, 1]
)
async def test_other_typ_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, typ: Any
) -> None:
    token = sign_raw(header_for(signing_key, typ=typ), claims_of(alice), signing_key)
    await assert_refused(client, token, auth_log, "bad_typ")


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"]},
        {"crit": []},
        {"crit": ["b64"], "b64": False},
        {"crit": "exp"},
        {"crit": None},
        {"cty": "JWT"},
        {"cty": ""},
        {"cty": "application/json"},
        {"cty": None},
    ],
    ids=lambda extra: "-".join(f"{k}={v!r}" for k, v in extra.items()),
)
async def test_crit_or_cty_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, extra: dict[str, Any]
) -> None:
    token = sign_raw(header_for(signing_key, **extra), claims_of(alice), signing_key)
    await assert_refused(client, token, auth_log, "forbidden_header_param")


async def test_unencoded_payload_option_is_refused(
    client, alice: User, signing_key: SigningKey
) -> None:
    token = sign_raw(header_for(signing_key, b64=False), claims_of(alice), signing_key)
    assert_invalid_token(await client.get(ME, headers=bearer(token)), token=token)


@pytest.mark.parametrize(
    "alg", [MISSING, None, "", "eddsa", "EDDSA", "EdDSA ", "Ed25519", "Ed448", ["EdDSA"], "HS256"]
)
async def test_alg_other_than_eddsa_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, alg: Any
) -> None:
    token = sign_raw(header_for(signing_key, alg=alg), claims_of(alice), signing_key)
    await assert_refused(client, token, auth_log, "alg_not_allowed")


NOT_AN_OBJECT: dict[str, tuple[Any, str]] = {
    "list": (["EdDSA", "test-key-1"], "malformed_header"),
    "list_of_header": ([{"alg": "EdDSA", "kid": "test-key-1"}], "malformed_header"),
    "string": ("EdDSA", "malformed_header"),
    "number": (42, "malformed_header"),
    "null": (None, "malformed_header"),
    "true": (True, "malformed_header"),
    "cut_short": (b'{"alg":"EdDSA"', "malformed_header"),
    "two_objects": (b'{"alg":"EdDSA","kid":"test-key-1"}{}', "malformed_header"),
    "empty": (b"", "malformed"),  # an empty segment fails the shape check first
}


@pytest.mark.parametrize("variant", list(NOT_AN_OBJECT))
async def test_header_that_is_not_a_json_object_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    header, reason = NOT_AN_OBJECT[variant]
    claims = claims_of(alice)
    await assert_accepted(client, sign_raw(header_for(signing_key), claims, signing_key), alice)
    token = sign_raw(header, claims, signing_key)

    await assert_refused(client, token, auth_log, reason, claims)
