"""Fixtures for the Schemathesis fuzz run: a fresh app behind a sync client, and two callers.

Hypothesis drives synchronous tests, so the app runs on an event loop in a
thread of its own (``threaded.py``); nothing is shared with the session's
other apps.

The budget comes from the environment: ``FUZZ_EXAMPLES`` examples per
operation and mode (``make test`` keeps the default, ``make fuzz`` raises it),
and ``FUZZ_SEED`` to explore another sequence. Without a seed the run is
derandomized, so CI fails or passes the same way every time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import hypothesis
import pytest

from tests.conftest import User, make_settings
from tests.fuzz.threaded import ThreadedClient, threaded_app
from tests.support.database import MigratedDatabase
from tests.support.jwks_server import JWKSServer
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")
# Scenarios are several calls long; this many steps at most in each.
STATEFUL_STEPS = 12


def budget(max_examples: int, **extra: object) -> hypothesis.settings:
    """Hypothesis settings for one fuzz test: bounded, and reproducible unless seeded."""
    options: dict[str, Any] = {
        "max_examples": max_examples,
        "derandomize": FUZZ_SEED is None,
        # One example is a handful of in-process requests; 5 s means something hangs.
        "deadline": timedelta(seconds=5),
        "database": None,  # no example database; a failure prints its reproduction
        "suppress_health_check": list(hypothesis.HealthCheck),
        "print_blob": True,
        **extra,
    }
    return hypothesis.settings(**options)


def seeded(test: object) -> object:
    """Apply ``FUZZ_SEED`` to a Hypothesis test, when one is set."""
    return hypothesis.seed(int(FUZZ_SEED))(test) if FUZZ_SEED is not None else test


@dataclass(frozen=True)
class Caller:
    """A real user with a live session, who signs in afresh for every request."""

    user: User
    key: SigningKey

    @property
    def id(self) -> str:
        return self.user.id

    def authorization(self) -> str:
        # A fresh token each time, so a long `make fuzz` run never outlives its 15 minutes.
        return f"Bearer {sign_eddsa(claims_for(self.user.id, self.user.sid), self.key)}"


@pytest.fixture(scope="module")
def fuzz_client(database: MigratedDatabase, jwks_server: JWKSServer) -> Iterator[ThreadedClient]:
    """The real app, fresh for this module, with its middleware, verifier and database."""
    with threaded_app(make_settings(database, jwks_url=jwks_server.url)) as client:
        yield client


@pytest.fixture
def callers(alice: User, bob: User, signing_key: SigningKey) -> tuple[Caller, Caller]:
    return Caller(alice, signing_key), Caller(bob, signing_key)
