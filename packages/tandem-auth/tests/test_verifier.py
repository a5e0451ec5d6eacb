"""The verifier's checks and defaults, without a database or an app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tandem_auth import (
    AuthError,
    ConfigurationError,
    ExpiredToken,
    InvalidToken,
    TandemAuthError,
    VerifierSettings,
)
from tests.conftest import KeyServer, StartVerifier
from tests.signers import AUDIENCE, ISSUER, b64url, claims, signer

EDDSA = signer("EdDSA")


@pytest.fixture
def published(key_server: KeyServer) -> KeyServer:
    key_server.publish(EDDSA.jwk())
    return key_server


async def refusal(start_verifier: StartVerifier, token: str, **settings: Any) -> AuthError:
    async with start_verifier(**settings) as verifier:
        with pytest.raises(AuthError) as refused:
            await verifier.verify(token)
    return refused.value


@pytest.mark.usefixtures("published")
async def test_aud_may_be_a_list_that_contains_ours(start_verifier: StartVerifier) -> None:
    token = EDDSA.sign(claims(aud=["billing-api", AUDIENCE]))
    async with start_verifier() as verifier:
        assert (await verifier.verify(token)).sub == "user-1"


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("aud", [["billing-api"], [], "", f"{AUDIENCE} ", [AUDIENCE.upper()]])
async def test_aud_without_ours_is_refused(start_verifier: StartVerifier, aud: Any) -> None:
    error = await refusal(start_verifier, EDDSA.sign(claims(aud=aud)))
    assert error.reason in {"bad_audience", "missing_claim"}


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("iss", [f"{ISSUER}/", ISSUER[:-1], [ISSUER], ISSUER.upper()])
async def test_iss_must_be_ours_exactly(start_verifier: StartVerifier, iss: Any) -> None:
    error = await refusal(start_verifier, EDDSA.sign_json(claims(iss=iss)))
    assert error.reason == "bad_issuer"


@pytest.mark.usefixtures("published")
async def test_the_default_maximum_lifetime_is_better_auths_900_seconds(
    start_verifier: StartVerifier,
) -> None:
    assert (
        VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE).max_lifetime_seconds
        == 900
    )
    now = int(time.time())
    async with start_verifier() as verifier:
        assert await verifier.verify(EDDSA.sign(claims(iat=now, exp=now + 900)))
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(EDDSA.sign(claims(iat=now, exp=now + 901)))
    assert refused.value.reason == "bad_lifetime"


@pytest.mark.usefixtures("published")
async def test_the_maximum_lifetime_is_configurable(start_verifier: StartVerifier) -> None:
    now = int(time.time())
    async with start_verifier(max_lifetime_seconds=3600) as verifier:
        assert await verifier.verify(EDDSA.sign(claims(iat=now, exp=now + 3600)))


@pytest.mark.usefixtures("published")
async def test_a_token_without_sid_is_refused_by_default(start_verifier: StartVerifier) -> None:
    token = EDDSA.sign(claims(sid=None))
    assert (await refusal(start_verifier, token)).reason == "missing_sid"
    async with start_verifier(require_sid=False) as verifier:
        assert (await verifier.verify(token)).sid is None


@pytest.mark.usefixtures("published")
async def test_leeway_accepts_a_just_expired_token_and_no_more(
    start_verifier: StartVerifier,
) -> None:
    now = int(time.time())
    async with start_verifier(leeway_seconds=30) as verifier:
        assert await verifier.verify(EDDSA.sign(claims(iat=now - 900, exp=now - 20)))
        with pytest.raises(ExpiredToken):
            await verifier.verify(EDDSA.sign(claims(iat=now - 900, exp=now - 40)))


@pytest.mark.parametrize("leeway", [61, 300, -1])
def test_leeway_beyond_a_minute_is_refused_at_start_up(leeway: int) -> None:
    with pytest.raises(ConfigurationError, match="JWT_LEEWAY_SECONDS"):
        VerifierSettings(algorithm="EdDSA", issuer=ISSUER, audience=AUDIENCE, leeway_seconds=leeway)


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("algorithm", "none", "JWT_ALGORITHM"),
        ("algorithm", "RS512", "JWT_ALGORITHM"),
        ("issuer", "", "JWT_ISSUER"),
        ("audience", "", "JWT_AUDIENCE"),
        ("max_lifetime_seconds", 0, "JWT_MAX_LIFETIME_SECONDS"),
    ],
)
def test_bad_settings_name_their_variable(field: str, value: Any, variable: str) -> None:
    values: dict[str, Any] = {"algorithm": "EdDSA", "issuer": ISSUER, "audience": AUDIENCE}
    with pytest.raises(ConfigurationError, match=variable):
        VerifierSettings(**{**values, field: value})


def _refused_tokens() -> Iterator[tuple[str, str]]:
    """Tokens each refused by a different check, from shape to claims."""
    good = EDDSA.sign(claims())
    header, payload, signature = good.split(".")
    yield "bad signature", f"{header}.{payload}.{signature[:-4]}AAAA"
    yield "header not JSON", f"{b64url(b'{not json')}.{payload}.{signature}"
    yield "payload not UTF-8", f"{header}.{b64url(bytes([0xFF, 0xFE]))}.{signature}"
    yield "header not an object", f"{b64url(b'[1]')}.{payload}.{signature}"
    yield "payload not JSON", f"{header}.{b64url(b'x')}.{signature}"
    yield "expired", EDDSA.sign(claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600))
    yield "wrong audience", EDDSA.sign(claims(aud="other"))
    yield "bad subject", EDDSA.sign(claims(sub="x\ny"))
    yield "unknown kid", signer("EdDSA", "unknown").sign(claims())
    alg_none = b64url(b'{"alg":"none"}')
    yield "alg none", f"{alg_none}.{payload}."
    yield "five segments", f"{good}.{payload}.{payload}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(("case", "token"), list(_refused_tokens()))
async def test_no_exception_carries_any_part_of_the_token(
    start_verifier: StartVerifier, case: str, token: str
) -> None:
    error = await refusal(start_verifier, token)
    parts = [part for part in token.split(".") if len(part) >= 8]
    for raised in _chain(error):
        assert isinstance(error, TandemAuthError)
        text = f"{raised!s} {raised!r} {raised.args!r} {vars(raised)!r}"
        assert not [part for part in parts if part in text], case
        assert "eyJ" not in text, case
