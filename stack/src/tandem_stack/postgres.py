"""An embedded PostgreSQL cluster run with the machine's server programs.

The server listens on 127.0.0.1 only and keeps its unix socket in its data directory,
which only its owner (and root) can enter; the superuser `postgres` logs in over that
socket without a password, everyone else over TCP with SCRAM. As root, initdb, pg_ctl
and postgres run as an unprivileged account (see `service_user`).
"""

import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from tandem_stack.errors import PostgresError
from tandem_stack.pgbin import PgBinaries, find_binaries
from tandem_stack.postmaster import postmaster_pid, postmaster_port, remove_stale_locks
from tandem_stack.scram import scram_sha256_verifier
from tandem_stack.service_user import ServiceUser, service_user

StopMode = Literal["fast", "immediate"]

SUPERUSER = "postgres"
APP_ROLE = "tandem_app"
"""The API's least-privilege role (DESIGN.md section 2, "database")."""
HOST = "127.0.0.1"
CONF_NAME = "tandem.conf"
_LOG_ROTATE_BYTES = 10 * 1024 * 1024

log = logging.getLogger(__name__)

# The owner gets no power over roles: on PostgreSQL 15, CREATEROLE is nearly superuser
# (it may grant itself any non-superuser role, pg_read_server_files and
# pg_execute_server_program included). A stack before security pass 2 gave the owner
# CREATEROLE; the ALTER takes it away again on the next start.
#
# The app role is made here, by the superuser, before the migrations run, which then only
# grant it privileges on the owner's tables. It logs in with its own password, or not at
# all (an empty `app_verifier`). The owner is a member of it, for the API's SET LOCAL ROLE
# when it has only the owner's URL; the app role is never a member of the owner.
_ENSURE_DATABASE_SQL = """
SELECT format('CREATE ROLE %I', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \\gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS PASSWORD %L',
              :'owner', :'verifier') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \\gexec
SELECT format('CREATE ROLE %I', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \\gexec
SELECT format('ALTER ROLE %I WITH %s PASSWORD %s NOSUPERUSER NOBYPASSRLS NOCREATEDB '
              'NOCREATEROLE NOINHERIT NOREPLICATION',
              :'app_role',
              CASE WHEN :'app_verifier' = '' THEN 'NOLOGIN' ELSE 'LOGIN' END,
              CASE WHEN :'app_verifier' = '' THEN 'NULL' ELSE quote_literal(:'app_verifier') END)
 \\gexec
SELECT format('REVOKE %I FROM %I', :'owner', :'app_role')
  FROM pg_auth_members
 WHERE roleid = to_regrole(:'owner') AND member = to_regrole(:'app_role') \\gexec
SELECT format('GRANT %I TO %I', :'app_role', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_auth_members
                    WHERE roleid = to_regrole(:'app_role')
                      AND member = to_regrole(:'owner')) \\gexec
"""


def _conf_string(value: str) -> str:
    """A postgresql.conf string literal: quotes doubled, backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@functools.cache
def _ctype_options() -> tuple[str, ...]:
    """`--lc-ctype=C.UTF-8` where the C library has it, so upper(), lower() and ILIKE
    understand non-ASCII letters while collation stays the fast, stable `C`."""
    program = shutil.which("locale")
    if program is None:
        return ()
    try:
        listed = subprocess.run([program, "-a"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    names = {name.strip().lower().replace("-", "") for name in listed.stdout.splitlines()}
    return ("--lc-ctype=C.UTF-8",) if "c.utf8" in names else ()


class EmbeddedPostgres:
    """One cluster: a data directory, a port, and the programs that run it."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        superuser_password: str | None = None,
        durable: bool = True,
        binaries: PgBinaries | None = None,
    ) -> None:
        """`superuser_password` also lets the superuser in over TCP (see `superuser_url`);
        `durable=False` trades crash safety for speed (no fsync), for test clusters."""
        self.data_dir = data_dir.resolve()
        self.port = port
        self.superuser_password = superuser_password
        self.durable = durable
        self._binaries = binaries

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @functools.cached_property
    def binaries(self) -> PgBinaries:
        return self._binaries or find_binaries()

    @functools.cached_property
    def user(self) -> ServiceUser | None:
        """The account the server runs as; None for the current one."""
        return service_user()

    def _give_to_server(self, path: Path) -> None:
        if self.user is not None:
            self.user.chown(path)

    # -- the cluster ----------------------------------------------------------------------

    def ensure_cluster(self) -> bool:
        """Create the cluster unless it exists; returns True if it was created."""
        if (self.data_dir / "PG_VERSION").is_file():
            return False
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._give_to_server(self.data_dir)
        if self.user is not None:
            self.user.check_can_reach(self.data_dir)
        args = [
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C",
            *_ctype_options(),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]
        if not self.durable:
            args.append("--no-sync")
        password_file: Path | None = None
        try:
            if self.superuser_password is not None:
                descriptor, name = tempfile.mkstemp(prefix=".pwfile-", dir=self.data_dir.parent)
                password_file = Path(name)
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(self.superuser_password + "\n")
                self._give_to_server(password_file)
                args.append(f"--pwfile={password_file}")
            result = self.binaries.run("initdb", args, user=self.user, timeout=300)
        finally:
            if password_file is not None:
                password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{(result.stderr or result.stdout).strip()}")
        include = f"\n# The stack's own settings:\ninclude_if_exists = '{CONF_NAME}'\n"
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(include)
        log.info("created a PostgreSQL cluster in %s", self.data_dir)
        return True

    def _write_conf(self) -> None:
        settings = {
            "listen_addresses": _conf_string(HOST),
            "port": str(self.port),
            "unix_socket_directories": _conf_string(str(self.socket_dir)),
            "unix_socket_permissions": "0700",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        path = self.data_dir / CONF_NAME
        path.write_text(
            "# Written by tandem_stack on every start; put your own settings in postgresql.conf.\n"
            + "".join(f"{key} = {value}\n" for key, value in settings.items()),
            encoding="utf-8",
        )
        path.chmod(0o600)
        self._give_to_server(path)

    # -- the server process ---------------------------------------------------------------

    def pid(self) -> int | None:
        """The running server's PID, or None."""
        return postmaster_pid(self.data_dir)

    def is_running(self) -> bool:
        return self.pid() is not None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout: int = 60) -> bool:
        """Start the server and wait until it accepts connections.

        Returns False if it was already running. Lock files left by a server that was
        killed are removed first, so a killed stack restarts without manual cleanup.
        """
        if (pid := self.pid()) is not None:
            running_port = postmaster_port(self.data_dir)
            if running_port not in (None, self.port):
                raise PostgresError(
                    f"PostgreSQL in {self.data_dir} already runs on port {running_port} "
                    f"(pid {pid}), not {self.port}; stop it first"
                )
            return False
        remove_stale_locks(self.data_dir, self.socket_dir)
        self._write_conf()
        if self.log_file.exists() and self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_name(self.log_file.name + ".1"))
        args = ["start", "--silent", "--wait", f"--timeout={timeout}"]
        args += [f"--pgdata={self.data_dir}", f"--log={self.log_file}"]
        result = self.binaries.run("pg_ctl", args, user=self.user, timeout=timeout + 30)
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL did not start ({(result.stderr or result.stdout).strip()}); "
                f"the end of {self.log_file}:\n{self._log_tail()}"
            )
        log.info("PostgreSQL is running on %s:%d (pid %s)", HOST, self.port, self.pid())
        return True

    def stop(self, mode: StopMode = "fast", timeout: int = 60) -> None:
        """Stop the server if it runs. `fast` rolls back open transactions and checkpoints;
        `immediate` exits at once, like a crash, and the next start recovers."""
        pid = self.pid()
        if pid is None:
            return
        args = ["stop", "--silent", "--wait", f"--timeout={timeout}"]
        args += [f"--pgdata={self.data_dir}", f"--mode={mode}"]
        result = self.binaries.run("pg_ctl", args, user=self.user, timeout=timeout + 30)
        if result.returncode == 0 or self.pid() is None:
            log.info("PostgreSQL stopped (%s)", mode)
            return
        reason = (result.stderr or result.stdout).strip()
        log.warning("pg_ctl stop failed (%s); killing PostgreSQL (pid %d)", reason, pid)
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                if self.pid() is None:
                    return
                time.sleep(0.05)
        raise PostgresError(f"PostgreSQL (pid {pid}) did not stop")

    # -- SQL ------------------------------------------------------------------------------

    def run_sql(
        self, sql: str, *, database: str = "postgres", variables: Mapping[str, str] | None = None
    ) -> str:
        """Run SQL as the superuser over the unix socket; returns psql's unaligned output.

        Pass untrusted values as `variables` and write them `:'name'` (a literal) or
        `:"name"` (an identifier), so that psql quotes them.
        """
        args = ["--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--set=ON_ERROR_STOP=1"]
        args += [f"--host={self.socket_dir}", f"--port={self.port}"]
        args += [f"--username={SUPERUSER}", f"--dbname={database}"]
        args += [f"--set={name}={value}" for name, value in (variables or {}).items()]
        result = self.binaries.run("psql", [*args, "--file=-"], stdin=sql, timeout=120)
        if result.returncode != 0:
            raise PostgresError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def ensure_database(
        self,
        owner: str,
        password: str,
        database: str,
        *,
        app_role: str = APP_ROLE,
        app_password: str | None = None,
    ) -> None:
        """Make `owner` a LOGIN role with `password` that cannot create roles, owning
        `database`; and make `app_role`, the API's least-privilege role, with `owner` a
        member of it.

        `app_role` logs in with `app_password`, or not at all when it is None. It is
        NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT and not a member of
        `owner`. Idempotent: existing roles get their attributes and passwords again (an
        owner's CREATEROLE is taken away), an existing database is kept. Only SCRAM
        verifiers of the passwords leave this process.
        """
        variables = {
            "owner": owner,
            "database": database,
            "verifier": scram_sha256_verifier(password),
            "app_role": app_role,
            "app_verifier": "" if app_password is None else scram_sha256_verifier(app_password),
        }
        self.run_sql(_ENSURE_DATABASE_SQL, variables=variables)

    # -- URLs -----------------------------------------------------------------------------

    def url(self, user: str, password: str, database: str) -> str:
        """`postgresql://user:password@127.0.0.1:port/database`, with the parts escaped."""
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@{HOST}:{self.port}/{quote(database, safe='')}"

    @property
    def superuser_url(self) -> str:
        """The superuser's URL over TCP; only for clusters made with a superuser password."""
        if self.superuser_password is None:
            raise PostgresError(
                f"this cluster's superuser has no password; connect over the unix socket "
                f"in {self.socket_dir}"
            )
        return self.url(SUPERUSER, self.superuser_password, SUPERUSER)
