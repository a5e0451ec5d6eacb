"""``verifier_from_env``: the API's variable names, and an error that names the variable."""

from __future__ import annotations

import logging

import pytest
from _pytest.logging import LogCaptureFixture

from tandem_auth import ConfigurationError, JWKSCache, SharedSecrets, verifier_from_env
from tests.signers import AUDIENCE, ISSUER, SECRET

BASE = {"BETTER_AUTH_URL": ISSUER, "JWT_AUDIENCE": AUDIENCE}


def test_better_auth_url_alone_sets_the_issuer_and_the_key_set() -> None:
    verifier = verifier_from_env(BASE)
    assert verifier.settings.issuer == ISSUER
    assert verifier.settings.algorithm == "EdDSA"
    assert verifier.settings.leeway_seconds == 30
    assert verifier.settings.max_lifetime_seconds == 900
    assert verifier.settings.require_sid is True
    assert isinstance(verifier.keys, JWKSCache)
    assert verifier.keys.url == f"{ISSUER}/api/auth/jwks"


def test_every_variable_is_read() -> None:
    verifier = verifier_from_env(
        {
            "JWT_ISSUER": "https://issuer.example.test",
            "JWT_AUDIENCE": "billing",
            "JWKS_URL": "https://keys.example.test/jwks",
            "JWT_ALGORITHM": "RS256",
            "JWT_LEEWAY_SECONDS": "5",
            "JWT_MAX_LIFETIME_SECONDS": "300",
            "JWT_REQUIRE_SID": "false",
        }
    )
    settings = verifier.settings
    assert (settings.issuer, settings.audience, settings.algorithm) == (
        "https://issuer.example.test",
        "billing",
        "RS256",
    )
    assert (settings.leeway_seconds, settings.max_lifetime_seconds) == (5, 300)
    assert settings.require_sid is False
    assert isinstance(verifier.keys, JWKSCache)
    assert verifier.keys.algorithm == "RS256"


async def test_hs256_reads_the_secret_and_the_previous_ones() -> None:
    verifier = verifier_from_env(
        {
            **BASE,
            "JWT_ALGORITHM": "HS256",
            "JWT_SECRET": SECRET,
            "JWT_PREVIOUS_SECRETS": f" {SECRET}-old , {SECRET}-older ",
        }
    )
    assert isinstance(verifier.keys, SharedSecrets)
    assert len(await verifier.keys.keys_for(None)) == 3


def test_hs256_falls_back_to_better_auths_secret_with_a_warning(caplog: LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tandem_auth"):
        verifier_from_env({**BASE, "JWT_ALGORITHM": "HS256", "BETTER_AUTH_SECRET": SECRET})
    assert [r.event for r in caplog.records] == ["config.hs256_secret_fallback"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"JWT_AUDIENCE": AUDIENCE}, "JWT_ISSUER"),
        ({"BETTER_AUTH_URL": ISSUER}, "JWT_AUDIENCE"),
        ({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}, "JWKS_URL"),
        ({**BASE, "JWT_ALGORITHM": "HS512"}, "JWT_ALGORITHM"),
        ({**BASE, "JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({**BASE, "JWT_LEEWAY_SECONDS": "61"}, "JWT_LEEWAY_SECONDS"),
        ({**BASE, "JWT_LEEWAY_SECONDS": "ten"}, "JWT_LEEWAY_SECONDS"),
        ({**BASE, "JWT_MAX_LIFETIME_SECONDS": "0"}, "JWT_MAX_LIFETIME_SECONDS"),
        ({**BASE, "JWT_REQUIRE_SID": "maybe"}, "JWT_REQUIRE_SID"),
        ({**BASE, "JWKS_URL": "http://keys.example.test/jwks"}, "JWKS_URL"),
        ({**BASE, "JWT_ALGORITHM": "HS256"}, "JWT_SECRET"),
        ({**BASE, "JWT_ALGORITHM": "HS256", "JWT_SECRET": "short"}, "JWT_SECRET"),
        # Contradictions: a setting that the chosen algorithm would silently ignore.
        ({**BASE, "JWT_SECRET": SECRET}, "JWT_SECRET"),
        ({**BASE, "JWT_PREVIOUS_SECRETS": SECRET}, "JWT_PREVIOUS_SECRETS"),
        (
            {**BASE, "JWT_ALGORITHM": "HS256", "JWT_SECRET": SECRET, "JWKS_URL": ISSUER},
            "JWKS_URL",
        ),
    ],
)
def test_a_missing_or_contradictory_setting_names_its_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        verifier_from_env(environ)


def test_optional_sid_warns_at_start_up(caplog: LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tandem_auth"):
        verifier_from_env({**BASE, "JWT_REQUIRE_SID": "0"})
    assert [r.event for r in caplog.records] == ["config.sid_optional"]  # type: ignore[attr-defined]
