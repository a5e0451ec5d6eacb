"""Who is in a seeded database: background users, the probed user and the writer.

Ids follow Better Auth's shape (32 alphanumerics), and every user has one live
session, so tokens for them pass the API's revocation check.
"""

from __future__ import annotations

from dataclasses import dataclass

ID_DIGITS = 30


@dataclass(frozen=True)
class Identity:
    """A user with a live session: the `sub` and `sid` of their tokens."""

    user_id: str
    session_id: str


def identity(prefix: str, index: int) -> Identity:
    return Identity(f"{prefix}u{index:0{ID_DIGITS}d}", f"{prefix}s{index:0{ID_DIGITS}d}")


@dataclass(frozen=True)
class Population:
    users: int
    """Background users `bu…` (sessions `bs…`), numbered from 0."""

    def background(self, index: int) -> Identity:
        return identity("b", index)

    @property
    def probe(self) -> Identity:
        """The user whose task list is measured."""
        return identity("p", 0)

    @property
    def writer(self) -> Identity:
        """The user who creates tasks, so that the probed list stays the same."""
        return identity("w", 0)
