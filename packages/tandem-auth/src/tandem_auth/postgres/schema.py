"""Names in Better Auth's schema that the revocation SQL refers to, checked before use.

Identifiers cannot be bind parameters, so each one is checked against a plain
pattern and then quoted; nothing else is ever formatted into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tandem_auth.errors import ConfigurationError

DEFAULT_CHANNEL: Final = "tandem_auth_session_changed"
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quoted(name: str, *, what: str) -> str:
    """``name`` as a quoted SQL identifier, if it is a plain one."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(f"{what} must be a plain SQL identifier")
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class BetterAuthTables:
    """Better Auth's ``session`` and ``user`` tables (their ``modelName``, if renamed)."""

    session: str = "session"
    user: str = "user"

    def __post_init__(self) -> None:
        quoted(self.session, what="the session table's name")
        quoted(self.user, what="the user table's name")

    @property
    def session_sql(self) -> str:
        return quoted(self.session, what="the session table's name")

    @property
    def user_sql(self) -> str:
        return quoted(self.user, what="the user table's name")


ADMIN_COLUMNS_QUERY: Final = """
SELECT count(*) = 2 FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1
  AND column_name IN ('banned', 'banExpires')
"""
