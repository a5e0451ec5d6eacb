"""The stack under test, started on first use and stopped when the run ends.

PostgreSQL is a throwaway cluster (tandem_stack.throwaway). The API runs exactly as
`make api` runs it (the same uvicorn arguments, the back end's own locked environment),
with the rate limits raised and its JWKS pointed at the benchmark's key.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tandem_stack.api import uvicorn_args
from tandem_stack.throwaway import throwaway_postgres

from bench import control_app
from bench.budget import Budget
from bench.database import Cluster
from bench.population import Population
from bench.progress import Progress
from bench.servers import Server, base_url, clean_env, free_port
from bench.tokens import AUDIENCE, ISSUER, LIFETIME_SECONDS, SigningKey, jwks_server

APP = "tandem.main:create_app"
MAIN_DATABASE = "bench_main"
UNLIMITED_RATE = "1000000/second"
SETUP_STEPS = 4


@dataclass(frozen=True)
class Api:
    server: Server
    port: int
    database: str

    @property
    def url(self) -> str:
        return base_url(self.port)


class BenchStack:
    """Everything the HTTP benchmarks share; each piece starts when first asked for."""

    def __init__(
        self, *, budget: Budget, root: Path, log_dir: Path, progress: Progress, exits: ExitStack
    ) -> None:
        self.budget = budget
        self.root = root
        self.log_dir = log_dir
        self.progress = progress
        self._exits = exits
        self.population = Population(budget.users)
        self.key = SigningKey()
        self._failed: BaseException | None = None

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @functools.cached_property
    def cluster(self) -> Cluster:
        # A cluster that failed to start or migrate fails every later benchmark at once,
        # rather than being made again for each.
        if self._failed is not None:
            raise RuntimeError(f"the database could not be prepared: {self._failed}")
        try:
            self.progress.status("stack: starting PostgreSQL")
            pg = self._exits.enter_context(throwaway_postgres())
            cluster = Cluster(pg, backend=self.backend, log_dir=self.log_dir)
            self.progress.step("stack: migrating the schema")
            cluster.migrate_template()
        except Exception as error:
            self._failed = error
            raise
        self.progress.step("stack: migrated")
        return cluster

    @functools.cached_property
    def jwks_url(self) -> str:
        return self._exits.enter_context(jwks_server(self.key))

    @functools.cached_property
    def main_database(self) -> str:
        """10 thousand users with live sessions, 10 thousand tasks, and the probed user's."""
        cluster = self.cluster
        self.progress.status("stack: seeding the main database")
        cluster.create_database(MAIN_DATABASE)
        cluster.seed(
            MAIN_DATABASE,
            population=self.population,
            tasks=self.budget.main_tasks,
            probe_tasks=self.budget.probe_tasks,
        )
        self.progress.step("stack: seeded")
        return MAIN_DATABASE

    @functools.cached_property
    def main_api(self) -> Api:
        """The API as shipped, one worker, on the main database; runs until the end."""
        api = self.api("api-main", database=self.main_database)
        self.progress.status("stack: starting the API")
        self._exits.enter_context(api.server)
        self.progress.step("stack: API ready")
        return api

    @functools.cached_property
    def main_control(self) -> Api:
        """The benchmark's control app on the main database; runs until the end."""
        control = self.control("control-main", database=self.main_database)
        self.progress.status("stack: starting the control app")
        self._exits.enter_context(control.server)
        return control

    def control(self, name: str, *, database: str, database_url: str | None = None) -> Api:
        """The benchmark's control app (`bench/control_app.py`, not started), served as the
        API is served, for the probed user (both list shapes) and the writer (inserts)."""
        people = (self.population.probe, self.population.writer)
        return self.api(
            name,
            database=database,
            database_url=database_url,
            app=f"{control_app.__name__}:create_app",
            app_dir=Path(control_app.__file__).parent.parent,
            extra_env={
                control_app.SESSIONS_VARIABLE: json.dumps(
                    {who.user_id: who.session_id for who in people}
                ),
                control_app.PRESET_USER_VARIABLE: self.population.probe.user_id,
            },
        )

    def api(
        self,
        name: str,
        *,
        database: str,
        workers: int = 1,
        app: str = APP,
        app_dir: Path | None = None,
        database_url: str | None = None,
        jwks_url: str | None = None,
        issuer: str = ISSUER,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        server_args: Sequence[str] = (),
        command: Callable[[int], list[str]] | None = None,
    ) -> Api:
        """An API process (not started): use its `server` as a context manager.

        It is served as `make api` serves it, with `workers`, `app_dir` and `server_args`
        added; or by `command`, given the port (another server under comparison).
        `database_url` replaces the owner's direct URL to `database` (a relay in front of it).
        """
        port = port or free_port()
        if command is not None:
            argv = command(port)
        else:
            argv = ["uv", "run", "--project", str(self.backend), "--frozen"]
            argv += uvicorn_args(port, app=app) + list(server_args)
            if workers != 1:
                argv += ["--workers", str(workers)]
            if app_dir is not None:
                argv += ["--app-dir", str(app_dir)]
        env = clean_env(
            DATABASE_URL=database_url or self.cluster.owner_url(database),
            JWKS_URL=jwks_url or self.jwks_url,
            JWT_ISSUER=issuer,
            JWT_AUDIENCE=AUDIENCE,
            JWT_ALGORITHM="EdDSA",
            # Benchmark tokens outlive a full run (bench.tokens); production keeps 900 s.
            JWT_MAX_LIFETIME_SECONDS=str(LIFETIME_SECONDS),
            RATE_LIMIT_API=UNLIMITED_RATE,
            **(extra_env or {}),
        )
        server = Server(
            name,
            argv,
            cwd=self.root,
            env=env,
            log_dir=self.log_dir,
            # /ready: the database answers and the signing keys are loaded
            ready_url=f"{base_url(port)}/ready",
        )
        return Api(server, port, database)
