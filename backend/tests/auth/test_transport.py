"""SECURITY.md "Transport and format": how the token travels, and its compact shape.

Shape attacks start from a token the app accepts. Python's base64 decoder
is lenient (it takes padding, ``+/`` and skips whitespace), so these tokens
would verify if the shape check did not exist: the log reason shows it did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from tandem_auth import InvalidToken

from tests.auth.conftest import AuthLog
from tests.auth.expect import (
    ME,
    assert_accepted,
    assert_invalid_request,
    assert_invalid_token,
    assert_missing_credentials,
    bearer,
)
from tests.auth.forge import (
    claims_of,
    encode_part,
    header_for,
    sign_raw,
    split,
    token_for,
)
from tests.conftest import User
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import SigningKey, b64url

MAX_TOKEN = 8192


# --- where the credential is -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_no_authorization_gets_a_bare_challenge(client, alice: User, method: str) -> None:
    for path in (ME, alice.tasks_url):
        body = {"title": "x"} if method == "POST" else None
        response = await client.request(method, path, json=body)
        if response.status_code == 405:
            continue  # /api/me has no POST
        assert_missing_credentials(response)


SCHEMES: dict[str, tuple[Callable[[str], str], str]] = {
    "basic": (lambda _t: "Basic YWxpY2U6cGFzc3dvcmQ=", "bad_scheme"),
    "basic_with_token": (lambda t: f"Basic {t}", "bad_scheme"),
    "token": (lambda t: f"Token {t}", "bad_scheme"),
    "jwt": (lambda t: f"JWT {t}", "bad_scheme"),
    "bearer_alone": (lambda _t: "Bearer", "bad_scheme"),
    "bearer_space": (lambda _t: "Bearer ", "bad_scheme"),
    "no_scheme": (lambda t: t, "bad_scheme"),
    "bearer_colon": (lambda t: f"Bearer:{t}", "bad_scheme"),
    "bearer_tab": (lambda t: f"Bearer\t{t}", "bad_scheme"),
    "bearerx": (lambda t: f"Bearerx {t}", "bad_scheme"),
    "two_spaces": (lambda t: f"Bearer  {t}", "malformed"),
    "two_tokens": (lambda t: f"Bearer {t} {t}", "malformed"),
    "comma_joined": (lambda t: f"Bearer {t}, Bearer {t}", "malformed"),
}


@pytest.mark.parametrize("variant", list(SCHEMES))
async def test_other_schemes_or_an_empty_bearer_are_refused(
    client, alice: User, auth_log: AuthLog, variant: str
) -> None:
    build, reason = SCHEMES[variant]
    header = build(alice.token)

    response = await client.get(ME, headers={"Authorization": header})

    assert_invalid_token(response, token=alice.token)
    assert auth_log.last_reason == reason


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_is_case_insensitive(client, alice: User, scheme: str) -> None:
    await assert_accepted(client, alice.token, alice, scheme=scheme)


async def test_token_only_in_the_query_is_refused(client, alice: User, auth_log: AuthLog) -> None:
    for path in (ME, alice.tasks_url):
        response = await client.get(path, params={"access_token": alice.token})
        assert_invalid_token(response, token=alice.token)
        assert auth_log.last_reason == "token_in_query"


@pytest.mark.parametrize("query_value", ["same", "other", "empty"])
async def test_header_plus_query_is_a_bad_request(
    client, alice: User, bob: User, query_value: str
) -> None:
    await assert_accepted(client, alice.token, alice)
    in_query = {"same": alice.token, "other": bob.token, "empty": ""}[query_value]

    for path in (ME, alice.tasks_url):
        response = await client.get(path, headers=alice.headers, params={"access_token": in_query})
        assert_invalid_request(response, token=alice.token)


@pytest.mark.parametrize("second", ["same", "other_user", "garbage"])
async def test_two_authorization_headers_are_a_bad_request(
    client, alice: User, bob: User, second: str
) -> None:
    other = {"same": alice.token, "other_user": bob.token, "garbage": "x.y.z"}[second]
    headers = [("Authorization", f"Bearer {alice.token}"), ("Authorization", f"Bearer {other}")]

    for path in (ME, alice.tasks_url):
        response = await client.get(path, headers=headers)
        assert_invalid_request(response, token=alice.token)


# --- the compact shape -------------------------------------------------------------------------


def _std_base64(token: str) -> str:
    """The same token in the standard alphabet (``+/``), without padding."""
    return token.replace("-", "+").replace("_", "/")


def _padded(token: str) -> str:
    return ".".join(part + "=" * (-len(part) % 4 or 4) for part in split(token))


def _jwe(token: str) -> str:
    header = encode_part({"alg": "dir", "enc": "A256GCM", "kid": "test-key-1"})
    return f"{header}..{b64url(b'iv-iv-iv-iv-')}.{split(token)[1]}.{b64url(b'tag' * 5)}"


def _json_serialization(token: str, *, general: bool) -> str:
    header, payload, signature = split(token)
    if general:
        document = {
            "payload": payload,
            "signatures": [{"protected": header, "signature": signature}],
        }
    else:
        document = {"payload": payload, "protected": header, "signature": signature}
    return json.dumps(document, separators=(",", ":"))


SHAPES: dict[str, Callable[[str], str]] = {
    "five_segment_jwe": _jwe,
    "four_segments": lambda t: f"{t}.{split(t)[2]}",
    "json_flattened": lambda t: _json_serialization(t, general=False),
    "json_general": lambda t: _json_serialization(t, general=True),
    "padding_on_signature": lambda t: f"{t}==",
    "padding_on_every_segment": _padded,
    "standard_alphabet": _std_base64,
    "space_inside": lambda t: t.replace(".", ". ", 1),
    "tab_inside": lambda t: f"{t[:20]}\t{t[20:]}",
    "trailing_space": lambda t: f"{t} ",
    "trailing_tab": lambda t: f"{t}\t",
    "trailing_dot": lambda t: f"{t}.",
    "trailing_junk": lambda t: f"{t}!",
    "leading_dot": lambda t: f".{t}",
    "empty_payload": lambda t: f"{split(t)[0]}..{split(t)[2]}",
    "quoted": lambda t: f'"{t}"',
}


def _token_with_both_alphabets(alice: User, key: SigningKey) -> str:
    """A valid token whose encoding has at least one ``-`` or ``_`` in it."""
    for n in range(100):
        token = token_for(alice, key, name=f"Someone {n}")
        if "-" in token or "_" in token:
            return token
    raise AssertionError("no token with - or _ in 100 tries")


@pytest.mark.parametrize("variant", list(SHAPES))
async def test_token_that_is_not_compact_base64url_is_refused_quickly(
    client, jwks: JWKSServer, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    token = _token_with_both_alphabets(alice, signing_key)
    await assert_accepted(client, token, alice)
    forged = SHAPES[variant](token)
    assert forged != token

    started = time.perf_counter()
    response = await client.get(ME, headers=bearer(forged))
    elapsed = time.perf_counter() - started

    assert_invalid_token(response, token=token, claims=claims_of(alice))
    assert auth_log.last_reason == "malformed"
    assert elapsed < 0.5
    assert jwks.fetches == 0
    await assert_accepted(client, token, alice)


def _payload_with_name(alice: User, raw_name: bytes) -> bytes:
    """Alice's claims with ``name`` set to raw bytes, whatever their encoding."""
    encoded = json.dumps(claims_of(alice, name="@NAME@")).encode()
    return encoded.replace(b"@NAME@", raw_name)


PAYLOADS: dict[str, Callable[[User], Any]] = {
    "invalid_utf8": lambda u: _payload_with_name(u, b"Some\xffone"),
    "overlong_utf8": lambda u: _payload_with_name(u, b"Some\xc0\xafone"),
    "lone_surrogate_utf8": lambda u: _payload_with_name(u, b"Some\xed\xa0\x80one"),
    "truncated_sequence": lambda u: _payload_with_name(u, b"Some\xe2\x82"),
    "latin1": lambda u: _payload_with_name(u, "Séverine".encode("latin-1")),
    "utf16": lambda u: json.dumps(claims_of(u)).encode("utf-16"),
    "utf16_be_no_bom": lambda u: json.dumps(claims_of(u)).encode("utf-16-be"),
    "utf32": lambda u: json.dumps(claims_of(u)).encode("utf-32"),
    "utf32_le_no_bom": lambda u: json.dumps(claims_of(u)).encode("utf-32-le"),
    "utf8_bom": lambda u: b"\xef\xbb\xbf" + json.dumps(claims_of(u)).encode(),
    "list": lambda u: [claims_of(u)],
    "string": lambda u: json.dumps(claims_of(u)),
    "number": lambda _u: 1,
    "null": lambda _u: None,
    "true": lambda _u: True,
    "not_json": lambda _u: b"sub=alice",
}


@pytest.mark.parametrize("variant", list(PAYLOADS))
async def test_payload_that_is_not_a_utf8_json_object_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, variant: str
) -> None:
    good = json.dumps(claims_of(alice), ensure_ascii=False).encode()
    await assert_accepted(client, sign_raw(header_for(signing_key), good, signing_key), alice)
    token = sign_raw(header_for(signing_key), PAYLOADS[variant](alice), signing_key)

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == "malformed"


async def test_non_ascii_in_the_authorization_header_is_refused(
    client, alice: User, auth_log: AuthLog
) -> None:
    for raw in (f"Bearer {alice.token}\xe9", f"Bearer \xe9{alice.token}", "Bearer \xe9.\xe9.\xe9"):
        response = await client.get(ME, headers={"Authorization": raw.encode("latin-1")})
        assert_invalid_token(response, token=alice.token)
        assert auth_log.last_reason == "malformed"


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"EdDSA","kid":"test-key-1","x":"\xff"}',
        b'{"alg":"EdDSA","kid":"test-key-1","x":"\xed\xa0\x80"}',
        '{"alg":"EdDSA","kid":"test-key-1"}'.encode("utf-16"),
        '{"alg":"EdDSA","kid":"test-key-1"}'.encode("utf-32"),
        '{"alg":"EdDSA","kid":"test-key-1"}'.encode("utf-16-le"),
        b'\xef\xbb\xbf{"alg":"EdDSA","kid":"test-key-1"}',
    ],
    ids=["invalid_utf8", "lone_surrogate", "utf16", "utf32", "utf16_le_no_bom", "utf8_bom"],
)
async def test_header_that_is_not_utf8_is_refused(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, header: bytes
) -> None:
    token = sign_raw(header, claims_of(alice), signing_key)

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == "malformed"


# --- size and depth ----------------------------------------------------------------------------


def _padded_token(alice: User, key: SigningKey, pad: int) -> str:
    return token_for(alice, key, pad="p" * pad)


def _tokens_around_the_limit(alice: User, key: SigningKey) -> tuple[str, str]:
    """The longest valid token of at most 8 KiB, and the shortest one above it."""
    base = len(_padded_token(alice, key, 0))
    pad = (MAX_TOKEN - base) * 3 // 4 - 8
    while len(_padded_token(alice, key, pad + 1)) <= MAX_TOKEN:
        pad += 1
    return _padded_token(alice, key, pad), _padded_token(alice, key, pad + 1)


async def test_token_over_8_kib_is_refused_before_decoding(
    client, jwks: JWKSServer, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    largest_allowed, too_long = _tokens_around_the_limit(alice, signing_key)
    assert len(largest_allowed) <= MAX_TOKEN < len(too_long) <= MAX_TOKEN + 4
    await assert_accepted(client, largest_allowed, alice)

    response = await client.get(ME, headers=bearer(too_long))

    assert_invalid_token(response, token=too_long)
    assert auth_log.last_reason == "too_long"
    for garbage in ("!" * (MAX_TOKEN + 1), "a.b.c" + " " * MAX_TOKEN, "A" * 100_000):
        response = await client.get(ME, headers=bearer(garbage))
        assert_invalid_token(response)
        assert auth_log.last_reason == "too_long"
    assert jwks.fetches == 0


async def test_the_verifier_itself_refuses_a_token_over_8_kib(
    eddsa_app, alice: User, signing_key: SigningKey
) -> None:
    """The package is reusable without ``BearerAuth``'s header limit, so it checks too."""
    _, too_long = _tokens_around_the_limit(alice, signing_key)
    verifier = eddsa_app.state.verifier

    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(too_long)

    assert refused.value.reason == "too_long"


async def test_header_nested_100k_deep_is_refused_not_a_500(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog
) -> None:
    depth = 100_000
    header = b'{"alg":"EdDSA","kid":"test-key-1","x":' + b"[" * depth + b"]" * depth + b"}"
    token = sign_raw(header, claims_of(alice), signing_key)

    started = time.perf_counter()
    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == "too_long"
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("where", "reason"), [("header", "malformed_header"), ("payload", "malformed")]
)
async def test_nesting_deeper_than_the_parser_allows_is_refused_not_a_500(
    client, alice: User, signing_key: SigningKey, auth_log: AuthLog, where: str, reason: str
) -> None:
    depth = 2_000  # within 8 KiB, and deeper than Python's json module can recurse
    nested = b"[" * depth + b"]" * depth
    header = json.dumps(header_for(signing_key)).encode()
    payload = json.dumps(claims_of(alice)).encode()
    if where == "header":
        header = header[:-1] + b',"x":' + nested + b"}"
    else:
        payload = payload[:-1] + b',"x":' + nested + b"}"
    token = sign_raw(header, payload, signing_key)
    assert len(token) <= MAX_TOKEN

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("AAAAA", "malformed"),
        (b64url(b"\x01\x02"), "malformed_header"),
        ("-_-_", "malformed"),
    ],
    ids=["length_1_mod_4", "binary", "not_utf8"],
)
async def test_header_segment_that_decodes_to_nothing_sensible_is_refused(
    client, alice: User, auth_log: AuthLog, header: str, reason: str
) -> None:
    _, payload, signature = split(alice.token)
    token = f"{header}.{payload}.{signature}"

    response = await client.get(ME, headers=bearer(token))

    assert_invalid_token(response, token=token)
    assert auth_log.last_reason == reason


@pytest.mark.parametrize("claim", ["name", "email"])
async def test_escaped_lone_surrogate_in_a_display_claim_is_dropped_not_a_500(
    client, alice: User, signing_key: SigningKey, claim: str
) -> None:
    token = token_for(alice, signing_key, **{claim: "Some\ud800one"})  # sent as "\\ud800"

    response = await client.get(ME, headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == alice.id
    assert response.json()[claim] is None
