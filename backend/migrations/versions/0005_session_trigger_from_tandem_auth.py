"""Announce ended sessions with tandem-auth's trigger, which also covers TRUNCATE.

Migration 0004's row trigger missed ``TRUNCATE session``, which deletes every
session without firing row triggers, so each API process went on trusting
its cached live sessions. The trigger now comes from ``tandem_auth.postgres``,
the same package whose ``LiveSessionCache`` listens to it: a row trigger for
deleted or changed sessions and a statement trigger that flushes every cache
on TRUNCATE, on tandem-auth's channel.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op
from tandem_auth.postgres import drop_session_trigger_statements, session_trigger_statements

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_CHANNEL = "tandem_session_changed"


def upgrade() -> None:
    op.execute("DROP TRIGGER session_changed ON session")
    op.execute("DROP FUNCTION notify_session_changed()")
    for statement in session_trigger_statements():
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_session_trigger_statements():
        op.execute(statement)
    op.execute(
        f"""
        CREATE FUNCTION notify_session_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{_OLD_CHANNEL}', OLD.id);
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
