"""Throwaway PostgreSQL clusters for test suites: fresh, fast, and gone afterwards.

    with throwaway_postgres() as pg:
        pg.ensure_database("tandem", "secret", "tandem")   # the owner, and tandem_app
        url = pg.url("tandem", "secret", "tandem")
        pg.stop("immediate"); pg.start()   # simulate a crash and recover

Each cluster lives in its own temporary directory, runs without fsync on a free port and
is removed on exit. Clusters left behind by a test process that was killed are removed
the next time a throwaway cluster is made.
"""

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tandem_stack.errors import PostgresError, StackError
from tandem_stack.pidfiles import live_process, write_pidfile
from tandem_stack.postgres import HOST, EmbeddedPostgres

PREFIX = "tandem-pg-"
OWNER_FILE = "owner.pid"
_START_ATTEMPTS = 3

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def reap_abandoned(parent: Path | None = None) -> list[Path]:
    """Stop and delete throwaway clusters whose creating process no longer runs."""
    reaped = []
    for directory in Path(parent or tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = directory / OWNER_FILE
        if not owner.is_file() or live_process(owner) is not None:
            continue
        try:
            EmbeddedPostgres(directory / "data", port=0).stop("immediate")
        except StackError as error:
            log.warning("could not stop the abandoned cluster in %s: %s", directory, error)
            continue
        shutil.rmtree(directory, ignore_errors=True)
        reaped.append(directory)
    return reaped


def _start(pg: EmbeddedPostgres) -> None:
    """Start on a fresh port, retrying when another process takes the port first."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            pg.start()
            return
        except PostgresError as error:
            if "could not bind" not in str(error) or attempt == _START_ATTEMPTS:
                raise
            pg.port = free_port()


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[EmbeddedPostgres]:
    """A started cluster whose superuser has a password (`superuser_url`); stopped
    (immediate) and deleted on exit."""
    reap_abandoned()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    pg = EmbeddedPostgres(
        root / "data",
        free_port(),
        superuser_password=secrets.token_urlsafe(24),
        durable=False,
    )
    try:
        write_pidfile(root / OWNER_FILE, os.getpid())
        if pg.user is not None:
            pg.user.chown(root)  # mkdtemp's 0700 directory must be enterable by the server
        pg.ensure_cluster()
        _start(pg)
        yield pg
    finally:
        try:
            pg.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
