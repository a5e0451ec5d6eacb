"""The machine's PostgreSQL server programs: finding them, and running them (as the
unprivileged service account when the runner is root)."""

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem_stack.errors import PostgresError, PostgresNotFound
from tandem_stack.service_user import ServiceUser

BINDIR_ENV = "PG_BINDIR"
REQUIRED = ("initdb", "pg_ctl", "postgres", "psql")
log = logging.getLogger(__name__)

INSTALL_HINT = (
    "PostgreSQL server binaries not found; install them with: apt-get install -y postgresql"
)


@dataclass(frozen=True)
class PgBinaries:
    """A directory that holds every program in REQUIRED."""

    bindir: Path

    def path(self, program: str) -> str:
        return str(self.bindir / program)

    def run(
        self,
        program: str,
        args: Sequence[str],
        *,
        user: ServiceUser | None = None,
        stdin: str | None = None,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run `program` to completion with captured text output, as `user` if given."""
        # PG* variables from the caller's shell must not point these programs elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        log.debug("running %s%s", program, f" as {user.name}" if user else "")
        try:
            return subprocess.run(
                [self.path(program), *args],
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                cwd="/",
                timeout=timeout,
                check=False,
                # Its own process group: Ctrl-C at the terminal is the runner's to handle.
                process_group=0,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=[] if user else None,
            )
        except subprocess.TimeoutExpired as error:
            raise PostgresError(f"{program} timed out after {timeout:.0f} s") from error


def _complete(directory: Path) -> bool:
    return all(os.access(directory / program, os.X_OK) for program in REQUIRED)


def _version_key(directory: Path) -> tuple[int, ...]:
    """`/usr/lib/postgresql/15/bin` sorts by (15,)."""
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name))


def _candidates() -> Iterator[Path]:
    # Debian and Ubuntu install each major version side by side; prefer the newest.
    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    if pg_config := shutil.which("pg_config"):
        try:
            result = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            yield Path(result.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for program in ("postgres", "initdb"):
        if found := shutil.which(program):
            # A symlink in /usr/local/bin may sit beside none of the other programs.
            yield Path(found).resolve().parent
            yield Path(found).parent


def find_binaries(environ: Mapping[str, str] | None = None) -> PgBinaries:
    """`$PG_BINDIR` if set, else the newest complete installation found on this machine."""
    env = os.environ if environ is None else environ
    if configured := env.get(BINDIR_ENV):
        if not _complete(Path(configured)):
            raise PostgresNotFound(
                f"{BINDIR_ENV}={configured} lacks one of {', '.join(REQUIRED)}; {INSTALL_HINT}"
            )
        return PgBinaries(Path(configured))
    for directory in _candidates():
        if _complete(directory):
            return PgBinaries(directory)
    raise PostgresNotFound(INSTALL_HINT)
