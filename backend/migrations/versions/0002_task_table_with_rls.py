"""The task table, the API's least-privilege role, and row-level security.

``tandem_app`` is neither owner, superuser nor BYPASSRLS. It may touch the
rows of ``task`` and read just enough of ``user`` and ``session`` to check
that a token's user and session are still live. RLS is enabled and forced
on ``task``, so even the owner sees only the rows of ``app.user_id``, and a
transaction without that setting sees none.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tandem_app"
# The role an operator makes when the migration may not (docs/operations.md).
APP_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
CURRENT_USER_ID = "nullif(current_setting('app.user_id', true), '')"


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column(
            "user_id",
            sa.Text,
            sa.ForeignKey("user.id", ondelete="CASCADE"),
            nullable=False,
            server_default=sa.text(CURRENT_USER_ID),
        ),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="task_title_length"),
        sa.CheckConstraint("char_length(description) <= 2000", name="task_description_length"),
    )
    # Keyset pagination: each sort order walks one of these, newest first by default.
    op.create_index("task_user_created_idx", "task", ["user_id", "created_at", "id"])
    op.create_index("task_user_updated_idx", "task", ["user_id", "updated_at", "id"])
    op.create_index("task_user_title_idx", "task", ["user_id", "title", "id"])

    # The role is cluster-wide. Where it already exists (the stack's embedded cluster makes
    # it as superuser; an operator makes it for their own server, docs/operations.md), the
    # migration only grants it privileges, so the owner needs no CREATEROLE: on PostgreSQL
    # 15 that attribute is nearly superuser. Only where it is missing does the migration
    # try to create it, and it fails with what to do if the owner may not.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'the role {APP_ROLE} does not exist, and % may not create it',
                        current_user
                    USING HINT = format(
                        'As a superuser, run: CREATE ROLE {APP_ROLE} {APP_ROLE_ATTRIBUTES} '
                        'PASSWORD <its own password>; GRANT {APP_ROLE} TO %I; '
                        'then migrate again (docs/operations.md)',
                        current_user);
                END;
            END IF;
            -- The owner switches to the app role per transaction (SET LOCAL ROLE) when the
            -- API has no login of its own, so it must be a member.
            IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                BEGIN
                    EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE EXCEPTION '% is not a member of the role {APP_ROLE}, and may not join it',
                        current_user
                    USING HINT = format(
                        'As a superuser, run: GRANT {APP_ROLE} TO %I; then migrate again '
                        '(docs/operations.md)', current_user);
                END;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON task TO {APP_ROLE}")
    op.execute(f'GRANT SELECT (id) ON "user" TO {APP_ROLE}')
    op.execute(f'GRANT SELECT (id, "userId", "expiresAt") ON session TO {APP_ROLE}')

    op.execute("ALTER TABLE task ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE task FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""
        CREATE POLICY task_owner_only ON task
            USING (user_id = {CURRENT_USER_ID})
            WITH CHECK (user_id = {CURRENT_USER_ID})
        """
    )


def downgrade() -> None:
    op.execute("DROP POLICY task_owner_only ON task")
    op.execute(f'REVOKE ALL ON session, "user" FROM {APP_ROLE}')
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    op.drop_table("task")
    # The role and the owner's membership in it are cluster-wide: other databases
    # on the same cluster may still use them, so they stay.
