"""Revocation: the one question a verified token cannot answer by itself.

A JWT stays valid until its ``exp`` even after its session ends. Better Auth
tokens carry the session id in ``sid`` (with ``definePayload``), so a service
that can see Better Auth's sessions can refuse a token the moment its session
ends. ``BearerAuth`` asks a ``SessionCheck`` about every token it accepts;
``tandem_auth.postgres`` ships one for a database shared with Better Auth.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tandem_auth.principal import Principal


@runtime_checkable
class SessionCheck(Protocol):
    """Decides whether a verified token's session is still live."""

    async def ensure_live(self, principal: Principal) -> None:
        """Return if ``principal.sid`` is a live session of ``principal.sub``.

        ``sid`` is None only when the verifier was told not to require it; what such
        a token needs to stay valid (its user's existence, say) is the check's call.

        Raise ``RevokedSession`` (401) when it is not, and ``SessionCheckUnavailable``
        (503) when the answer cannot be had right now.
        """
        ...
