"""The benchmark's PostgreSQL: one migrated template, cloned per database, seeded in SQL.

The schema comes from the back end's Alembic migrations, run once into a template
database; every benchmark database is a copy of it (CREATE DATABASE … TEMPLATE),
owned by the same role the API logs in as. Rows are inserted by the superuser,
which bypasses the row-level security that `task` forces on everyone else.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
from tandem_stack.postgres import SUPERUSER, EmbeddedPostgres

from bench.population import ID_DIGITS, Identity, Population
from bench.servers import clean_env

OWNER = "tandem"
TEMPLATE = "bench_template"
APP_ROLE = "tandem_app"  # created by the migrations; the role every API transaction runs as
_SEED_TIMEOUT_SECONDS = 900  # the 1-million-task seed takes about a minute; this is the bound
_MIGRATE_TIMEOUT_SECONDS = 300

_SEED_USERS = f"""
INSERT INTO "user" (id, name, email, "emailVerified")
SELECT 'bu' || lpad(n::text, {ID_DIGITS}, '0'), 'Bench user ' || n,
       'bench' || n || '@bench.invalid', true
  FROM generate_series(0, $1 - 1) AS n;
"""
_SEED_SESSIONS = f"""
INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId")
SELECT 'bs' || lpad(n::text, {ID_DIGITS}, '0'), now() + interval '2 days', 'bench-session-' || n,
       now(), 'bu' || lpad(n::text, {ID_DIGITS}, '0')
  FROM generate_series(0, $1 - 1) AS n;
"""
_SEED_ONE_USER = """
WITH u AS (
  INSERT INTO "user" (id, name, email, "emailVerified")
  VALUES ($1, $3, $1 || '@bench.invalid', true)
)
INSERT INTO session (id, "expiresAt", token, "updatedAt", "userId")
VALUES ($2, now() + interval '2 days', 'bench-session-' || $2, now(), $1);
"""
# $1 rows in all, $2 of them the probed user's ($3), spread evenly through the heap as they
# would be in a table written over time; the rest cycle through $4 background users.
_SEED_TASKS = f"""
INSERT INTO task (user_id, title, description, completed, created_at, updated_at)
SELECT CASE WHEN i * $2 / $1 <> (i - 1) * $2 / $1 THEN $3
            ELSE 'bu' || lpad((i % $4)::text, {ID_DIGITS}, '0') END,
       'Task number ' || i,
       CASE WHEN i % 3 = 0 THEN 'Some details about task number ' || i END,
       i % 4 = 0,
       t.at, t.at
  FROM generate_series(1::bigint, $1::bigint) AS i,
       LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second') AS t(at);
"""


class Cluster:
    """A started throwaway cluster, the migrated template, and the databases cloned from it."""

    def __init__(self, pg: EmbeddedPostgres, *, backend: Path, log_dir: Path) -> None:
        self.pg = pg
        self.backend = backend
        self.log_dir = log_dir
        self.owner_password = secrets.token_urlsafe(24)
        self._migrated = False

    def owner_url(self, database: str) -> str:
        return self.pg.url(OWNER, self.owner_password, database)

    def superuser_dsn(self, database: str) -> str:
        assert self.pg.superuser_password is not None
        return self.pg.url(SUPERUSER, self.pg.superuser_password, database)

    def migrate_template(self) -> None:
        """Create the template database and bring it to Alembic's head."""
        self.pg.ensure_database(OWNER, self.owner_password, TEMPLATE)
        env = clean_env(DATABASE_URL=self.owner_url(TEMPLATE))
        ini = str(self.backend / "alembic.ini")
        argv = ["uv", "run", "--project", str(self.backend), "--frozen"]
        argv += ["alembic", "-c", ini, "upgrade", "head"]
        log_path = self.log_dir / "migrate.log"
        with log_path.open("wb") as log:
            done = subprocess.run(
                argv,
                cwd=self.backend,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_MIGRATE_TIMEOUT_SECONDS,
                check=False,
            )
        if done.returncode != 0:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"alembic upgrade head failed:\n{tail}")
        self._migrated = True

    def create_database(self, name: str) -> None:
        """A fresh copy of the migrated template, owned by the role the API logs in as."""
        if not self._migrated:
            self.migrate_template()
        self.pg.run_sql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} OWNER {OWNER}')

    def execute(self, database: str, sql: str, *args: Any, timeout: float = 120) -> None:
        asyncio.run(self._execute(database, sql, args, timeout))

    async def _execute(
        self, database: str, sql: str, args: tuple[Any, ...], seconds: float
    ) -> None:
        connection = await asyncpg.connect(self.superuser_dsn(database))
        try:
            await connection.execute(f"SET statement_timeout = '{int(seconds)}s'")
            await connection.execute(sql, *args, timeout=seconds + 10)
        finally:
            await connection.close()

    def value(self, database: str, sql: str, *args: Any, timeout: float = 120) -> Any:
        """The first column of the first row of `sql`, run by the superuser."""
        return asyncio.run(self._value(database, sql, args, timeout))

    async def _value(self, database: str, sql: str, args: tuple[Any, ...], seconds: float) -> Any:
        connection = await asyncpg.connect(self.superuser_dsn(database))
        try:
            return await connection.fetchval(sql, *args, timeout=seconds)
        finally:
            await connection.close()

    def add_user(self, database: str, who: Identity, name: str) -> None:
        """One more user, with a live session."""
        self.execute(database, _SEED_ONE_USER, who.user_id, who.session_id, name)

    def seed(self, database: str, *, population: Population, tasks: int, probe_tasks: int) -> None:
        """Users with live sessions, `tasks` background tasks, and the probed user's own."""
        self.execute(database, _SEED_USERS, population.users)
        self.execute(database, _SEED_SESSIONS, population.users)
        for who, name in ((population.probe, "Probe"), (population.writer, "Writer")):
            self.execute(database, _SEED_ONE_USER, who.user_id, who.session_id, name)
        self.add_tasks(
            database,
            who=population.probe,
            count=probe_tasks,
            background=tasks,
            users=population.users,
        )

    def add_tasks(
        self, database: str, *, who: Identity, count: int, background: int = 0, users: int = 1
    ) -> None:
        """`count` tasks for `who`, spread through `background` tasks of `users` other users."""
        total = count + background
        self.execute(
            database, _SEED_TASKS, total, count, who.user_id, users, timeout=_SEED_TIMEOUT_SECONDS
        )
        self.execute(database, "VACUUM (ANALYZE) task", timeout=_SEED_TIMEOUT_SECONDS)
        self.execute(database, 'ANALYZE "user"; ANALYZE session')

    def explain(self, database: str, sql: str, *args: Any, user_id: str) -> str:
        """EXPLAIN (ANALYZE, BUFFERS) of `sql` with `args` as the API runs it: as the app
        role, with RLS on and `app.user_id` set. The second of two runs, so the cache is warm."""
        return asyncio.run(self._explain(database, sql, args, user_id))

    async def _explain(self, database: str, sql: str, args: tuple[Any, ...], user_id: str) -> str:
        connection = await asyncpg.connect(self.superuser_dsn(database))
        try:
            async with connection.transaction():
                await connection.execute(f"SET LOCAL ROLE {APP_ROLE}")
                await connection.execute("SELECT set_config('app.user_id', $1, true)", user_id)
                statement = f"EXPLAIN (ANALYZE, BUFFERS) {sql}"
                await connection.fetch(statement, *args)
                rows = await connection.fetch(statement, *args)
            return "\n".join(row[0] for row in rows)
        finally:
            await connection.close()
