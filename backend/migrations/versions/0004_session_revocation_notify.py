"""Announce ended sessions with NOTIFY, so every API process forgets them at once.

The API caches live sessions for routes that do not otherwise touch the
database. A session row that is deleted (sign-out, user deleted) or whose
expiry changes sends its id on ``tandem_session_changed``; each process
drops it from its cache when the notification arrives.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "tandem_session_changed"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION notify_session_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER session_changed
            AFTER DELETE OR UPDATE OF "expiresAt", "userId" ON session
            FOR EACH ROW EXECUTE FUNCTION notify_session_changed()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER session_changed ON session")
    op.execute("DROP FUNCTION notify_session_changed()")
