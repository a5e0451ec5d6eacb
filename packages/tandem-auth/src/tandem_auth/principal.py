"""Who a verified token says the caller is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity in a verified token; ``sub`` alone identifies the user."""

    sub: str
    sid: str | None
    email: str | None
    name: str | None
    kid: str | None
    expires_at: float
