"""Idempotency keys for task creation, stored per user beside the task they created.

A retried POST with the same key finds the row written in the original
request's transaction: either both the task and its key exist, or neither.
Rows older than 24 hours no longer count and are purged lazily.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tandem_app"
CURRENT_USER_ID = "nullif(current_setting('app.user_id', true), '')"


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column(
            "user_id",
            sa.Text,
            sa.ForeignKey("user.id", ondelete="CASCADE"),
            nullable=False,
            server_default=sa.text(CURRENT_USER_ID),
        ),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("response_status", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column(
            "created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("user_id", "key"),
        sa.CheckConstraint("char_length(key) BETWEEN 1 AND 255", name="idempotency_key_length"),
    )
    op.create_index("idempotency_key_created_idx", "idempotency_key", ["created_at"])
    op.execute(f"GRANT SELECT, INSERT, DELETE ON idempotency_key TO {APP_ROLE}")
    op.execute("ALTER TABLE idempotency_key ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE idempotency_key FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""
        CREATE POLICY idempotency_key_owner_only ON idempotency_key
            USING (user_id = {CURRENT_USER_ID})
            WITH CHECK (user_id = {CURRENT_USER_ID})
        """
    )


def downgrade() -> None:
    op.drop_table("idempotency_key")
