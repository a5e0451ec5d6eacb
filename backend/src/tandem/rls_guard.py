"""Refuse to serve when the database would not confine users by itself.

Run at startup, as the role the API's requests use. Row-level security only
protects anyone if that role cannot bypass it and every user table forces it.
The login role (``session_user``) is checked too: without API_DATABASE_URL the
API logs in as another role and switches to ``tandem_app`` per transaction,
and a login that is a superuser or has BYPASSRLS could leave that switch, or
skip it on any statement that runs outside a request's transaction.
"""

from __future__ import annotations

import asyncpg

_ROLE = "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
_LOGIN_ROLE = "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user"
# A "user table" is one with a user_id column: the rows belong to someone.
_USER_TABLES = """
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


class UnsafeDatabase(RuntimeError):
    """The API's database role or schema would let one user read another's rows."""


async def check_row_level_security(connection: asyncpg.Connection) -> None:
    role, superuser, bypasses_rls = await connection.fetchrow(_ROLE)
    if superuser or bypasses_rls:
        raise UnsafeDatabase(f"role {role} is a superuser or has BYPASSRLS")
    login, login_superuser, login_bypasses_rls = await connection.fetchrow(_LOGIN_ROLE)
    if login_superuser or login_bypasses_rls:
        raise UnsafeDatabase(f"the login role {login} is a superuser or has BYPASSRLS")
    tables = await connection.fetch(_USER_TABLES)
    if "task" not in {name for name, *_ in tables}:
        raise UnsafeDatabase("table task is missing; run the migrations")
    for name, forced, acts_as_owner in tables:
        if not forced:
            raise UnsafeDatabase(f"table {name} lacks enabled and forced row-level security")
        if acts_as_owner:
            raise UnsafeDatabase(f"role {role} owns table {name}, or can act as its owner")
