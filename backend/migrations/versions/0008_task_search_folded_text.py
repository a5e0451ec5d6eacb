"""Search reads case-folded text stored with each task; the trigram indexes go.

Migration 0007's trigram indexes never served a search. Under row-level
security PostgreSQL may use an index condition ahead of the policy only when
its operator is leakproof, and ``ILIKE`` (like ``LIKE``, ``@>`` and every
pg_trgm operator) is not; only a superuser may declare otherwise. The plans
showed it: the user's rows came from the ``user_id`` index, every one went
through two ``ILIKE`` filters, and the two GIN indexes only slowed each write.

What costs is ``ILIKE`` itself: it folds both sides to lower case for every
row. ``search_text`` holds the title and the description folded once, when
the task is written (a stored generated column), so a search first rules rows
out with a plain ``LIKE`` and runs the exact ``ILIKE`` only on the few left.

Adding a stored column rewrites the table under an exclusive lock: on a large
table, run this migration in a maintenance window.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The unit separator keeps a folded title and description apart; tasks/models.py declares the same.
SEARCH_TEXT = "lower(title || E'\\x1f' || coalesce(description, ''))"


def upgrade() -> None:
    for column in ("title", "description"):
        op.execute(f"DROP INDEX task_{column}_search_idx")
    op.execute(
        f"ALTER TABLE task ADD COLUMN search_text text GENERATED ALWAYS AS ({SEARCH_TEXT}) STORED"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE task DROP COLUMN search_text")
    for column in ("title", "description"):
        op.execute(
            f"CREATE INDEX task_{column}_search_idx ON task"
            f" USING gin (user_id, {column} gin_trgm_ops)"
        )
