"""A way for the API to purge expired idempotency keys, and nothing more.

Keys count for 24 hours, but nothing deleted them: each create through the
proxy left a row, with the task's whole body, for ever. The API's role sees
only the current user's rows (RLS), so it cannot purge everyone's. This
function can, in bounded batches: it runs as the owner (SECURITY DEFINER),
whose two policies here reach expired rows only, and the API may call it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tandem_app"
EXPIRED = "created_at < now() - interval '24 hours'"
MAX_BATCH = 10_000


def upgrade() -> None:
    # Qualified by the schema the migrations run in, with a search_path that an attacker's
    # temporary table cannot come first in: the usual care for SECURITY DEFINER.
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    table = f'"{schema}".idempotency_key'
    for command in ("SELECT", "DELETE"):
        op.execute(
            f"CREATE POLICY idempotency_key_purge_{command.lower()} ON idempotency_key"
            f" FOR {command} TO CURRENT_USER USING ({EXPIRED})"
        )
    # The schema's own name, read from the server, and constants: no input reaches this SQL.
    op.execute(
        f"""
        CREATE FUNCTION purge_expired_idempotency_keys(batch integer) RETURNS integer
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
            WITH doomed AS (
                SELECT user_id, key FROM {table}
                WHERE {EXPIRED}
                ORDER BY created_at
                LIMIT least(greatest(batch, 1), {MAX_BATCH})
            ), purged AS (
                DELETE FROM {table} k USING doomed d
                WHERE k.user_id = d.user_id AND k.key = d.key
                RETURNING 1
            )
            SELECT count(*)::integer FROM purged
        $$
        """  # noqa: S608
    )
    op.execute("REVOKE ALL ON FUNCTION purge_expired_idempotency_keys(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION purge_expired_idempotency_keys(integer) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION purge_expired_idempotency_keys(integer)")
    op.execute("DROP POLICY idempotency_key_purge_delete ON idempotency_key")
    op.execute("DROP POLICY idempotency_key_purge_select ON idempotency_key")
