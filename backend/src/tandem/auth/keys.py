"""Where verification keys come from: a JWKS endpoint or shared secrets.

A key source hands the verifier the candidate keys for a token's ``kid``.
``JWKSCache`` serves Better Auth's published Ed25519 keys from memory;
``SharedSecrets`` serves the HS256 secret and any previous ones kept for
rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MIN_SECRET_BYTES = 32

VerificationKey = Ed25519PublicKey | bytes
KeysRemovedListener = Callable[[frozenset[str]], None]


class KeySource(Protocol):
    @property
    def ready(self) -> bool:
        """True when at least one key can verify a token."""
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

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        secrets = [s.encode() for s in (current, *previous)]
        if any(len(s) < MIN_SECRET_BYTES for s in secrets):
            # RFC 7518 §3.2: an HS256 key must be at least as long as the hash.
            raise ValueError(f"every HS256 secret needs at least {MIN_SECRET_BYTES} bytes")
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
