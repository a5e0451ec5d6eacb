"""Better Auth 1.7's tables, exactly as its PostgreSQL migration creates them.

Better Auth (email and password, the jwt plugin, database rate limiting)
reads and writes these; Alembic owns their definition. The drift test runs
Better Auth's getMigrations against the migrated database and fails if
Better Auth would change anything.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = sa.TIMESTAMP(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("user.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False, unique=True),
        sa.Column("emailVerified", sa.Boolean, nullable=False),
        sa.Column("image", sa.Text),
        sa.Column("createdAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
        sa.Column("updatedAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
    )
    op.create_table(
        "session",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("expiresAt", TIMESTAMPTZ, nullable=False),
        sa.Column("token", sa.Text, nullable=False, unique=True),
        sa.Column("createdAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
        sa.Column("updatedAt", TIMESTAMPTZ, nullable=False),
        sa.Column("ipAddress", sa.Text),
        sa.Column("userAgent", sa.Text),
        sa.Column("userId", sa.Text, _user_fk(), nullable=False),
    )
    op.create_index("session_userId_idx", "session", ["userId"])
    op.create_table(
        "account",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("accountId", sa.Text, nullable=False),
        sa.Column("providerId", sa.Text, nullable=False),
        sa.Column("userId", sa.Text, _user_fk(), nullable=False),
        sa.Column("accessToken", sa.Text),
        sa.Column("refreshToken", sa.Text),
        sa.Column("idToken", sa.Text),
        sa.Column("accessTokenExpiresAt", TIMESTAMPTZ),
        sa.Column("refreshTokenExpiresAt", TIMESTAMPTZ),
        sa.Column("scope", sa.Text),
        sa.Column("password", sa.Text),
        sa.Column("createdAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
        sa.Column("updatedAt", TIMESTAMPTZ, nullable=False),
    )
    op.create_index("account_userId_idx", "account", ["userId"])
    op.create_table(
        "verification",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("identifier", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expiresAt", TIMESTAMPTZ, nullable=False),
        sa.Column("createdAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
        sa.Column("updatedAt", TIMESTAMPTZ, nullable=False, server_default=NOW),
    )
    op.create_index("verification_identifier_idx", "verification", ["identifier"])
    op.create_table(
        "jwks",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("publicKey", sa.Text, nullable=False),
        sa.Column("privateKey", sa.Text, nullable=False),
        sa.Column("createdAt", TIMESTAMPTZ, nullable=False),
        sa.Column("expiresAt", TIMESTAMPTZ),
        sa.Column("alg", sa.Text),
        sa.Column("crv", sa.Text),
    )
    op.create_table(
        "rateLimit",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("lastRequest", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("rateLimit", "jwks", "verification", "account", "session", "user"):
        op.drop_table(table)
