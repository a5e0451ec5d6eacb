"""Where verification keys come from: a JWKS endpoint or shared secrets.

A key source hands the verifier the candidate keys for a token's ``kid``.
``JWKSCache`` (``tandem_auth.jwks``) serves the public keys Better Auth
publishes; ``SharedSecrets`` serves the HS256 secret and any previous ones
kept for rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

from tandem_auth.algorithms import SHARED_SECRET_ALGORITHM, PublicKey
from tandem_auth.errors import ConfigurationError

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash.
MIN_SECRET_BYTES: Final = 32

VerificationKey = PublicKey | bytes
KeysRemovedListener = Callable[[frozenset[str]], None]


@runtime_checkable
class KeySource(Protocol):
    """What the verifier needs from a source of keys."""

    @property
    def ready(self) -> bool:
        """True when at least one key can verify a token."""
        ...

    @property
    def algorithm(self) -> str:
        """The one algorithm this source's keys verify."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def keys_for(self, kid: str | None) -> Sequence[VerificationKey]:
        """Candidate keys for ``kid``; raise an ``AuthError`` when there are none."""
        ...

    def on_keys_removed(self, listener: KeysRemovedListener) -> None:
        """Call ``listener`` with the kids that left the key set."""
        ...


class SharedSecrets:
    """HS256 secrets: the current one first, then those kept for rotation."""

    algorithm = SHARED_SECRET_ALGORITHM

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        secrets = [secret.encode() for secret in (current, *previous)]
        if any(len(secret) < MIN_SECRET_BYTES for secret in secrets):
            raise ConfigurationError(
                f"JWT_SECRET and each of JWT_PREVIOUS_SECRETS need at least {MIN_SECRET_BYTES}"
                " bytes"
            )
        self._secrets: tuple[bytes, ...] = tuple(secrets)

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def keys_for(self, kid: str | None) -> Sequence[VerificationKey]:
        return self._secrets

    def on_keys_removed(self, listener: KeysRemovedListener) -> None:
        return None
