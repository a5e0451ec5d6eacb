"""Trigram indexes for task search, per user.

``q=`` matches ``ILIKE '%text%'`` on the title or the description. Without
an index for it, PostgreSQL reads every task of the user in sort order until
it finds a page of matches: a user with 5,000 tasks searched 100 times longer
than a user with 50. These GIN indexes hold the owner's id beside each
trigram (btree_gin), so a search reads only the user's matching rows.
Both extensions are trusted (PostgreSQL 13+): the database's owner may create
them without superuser rights.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED = ("title", "description")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for column in _INDEXED:
        op.execute(
            f"CREATE INDEX task_{column}_search_idx ON task"
            f" USING gin (user_id, {column} gin_trgm_ops)"
        )


def downgrade() -> None:
    # The extensions stay: other schemas in the database may use them.
    for column in _INDEXED:
        op.execute(f"DROP INDEX task_{column}_search_idx")
