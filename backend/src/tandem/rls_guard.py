"""Refuse to serve when the database would not confine users by itself.

Run at startup, as the role the API's requests use. Row-level security only
protects anyone if that role cannot bypass it and every user table forces it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_ROLE = text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
# A "user table" is one with a user_id column: the rows belong to someone.
_USER_TABLES = text(
    """
    SELECT c.relname,
           c.relrowsecurity AND c.relforcerowsecurity AS forced,
           pg_has_role(current_user, c.relowner, 'MEMBER') AS acts_as_owner
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema()
      AND c.relkind IN ('r', 'p')
      AND EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped)
    """
)


class UnsafeDatabase(RuntimeError):
    """The API's database role or schema would let one user read another's rows."""


async def check_row_level_security(session: AsyncSession) -> None:
    role, superuser, bypasses_rls = (await session.execute(_ROLE)).one()
    if superuser or bypasses_rls:
        raise UnsafeDatabase(f"role {role} is a superuser or has BYPASSRLS")
    tables = (await session.execute(_USER_TABLES)).all()
    if "task" not in {name for name, *_ in tables}:
        raise UnsafeDatabase("table task is missing; run the migrations")
    for name, forced, acts_as_owner in tables:
        if not forced:
            raise UnsafeDatabase(f"table {name} lacks enabled and forced row-level security")
        if acts_as_owner:
            raise UnsafeDatabase(f"role {role} owns table {name}, or can act as its owner")
