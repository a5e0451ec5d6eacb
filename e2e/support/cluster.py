"""`python -m tandem_stack cluster`, run by the suite as an operator runs `make cluster`: its own
data directory (TANDEM_DATA_DIR under the system's temp directory, so a developer's `.data/` is
never touched),
free ports, and the suite's web build (`--no-build`). Its whole output goes to
artifacts/logs/cluster.log.

The test reaches each instance directly and through HAProxy, reads the runner's PID files to
kill or stop an instance as a crash or an orchestrator would, reads HAProxy's server states from
its stats socket, and runs SQL as the embedded cluster's superuser.
"""

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tandem_stack.haproxy import server_states
from tandem_stack.paths import RepoPaths
from tandem_stack.pidfiles import read_pidfile
from tandem_stack.postgres import EmbeddedPostgres
from tandem_stack.processes import Child
from tandem_stack.readiness import http_ok, port_in_use
from tandem_stack.supervisor import Supervisor

from support import sensitive
from support.paths import BACKEND, LOGS, ROOT
from support.stack import HOST, StackFailed, _base_env, _tail

SIZE = 2
# Per user and per address, per second: small enough that a test sees the limit with a burst,
# large enough for the load tests, which stay below it (each load thread is its own user).
RATE_LIMIT = 30
_START_TIMEOUT = 240.0
_STOP_TIMEOUT = 60.0
# Not under the checkout: as root the embedded PostgreSQL runs as another user, which must enter
# every parent of its data, and a checkout may sit in a 0700 directory (`mktemp -d`). One name
# per checkout, so the next run finds and stops what a killed run left behind.
_DATA = Path(tempfile.gettempdir()) / (
    "tandem-e2e-cluster-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
)
_LOG = LOGS / "cluster.log"


_LOWEST_PORT = 10_000
_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _first_ephemeral_port() -> int:
    """The lowest port the kernel picks for outgoing connections (Linux's default: 32768)."""
    try:
        return int(_EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@dataclass(frozen=True)
class Ports:
    web: int
    api: int
    metrics: int
    postgres: int
    redis: int

    @classmethod
    def free(cls) -> "Ports":
        """Bases with `SIZE` free ports above each (instance i listens on base + i).

        Drawn below the kernel's range for outgoing connections: a port from that range
        (what binding to port 0 gives) can become some connection's local port in the
        seconds before an instance binds it, and the instance then fails with EADDRINUSE.
        """
        taken: set[int] = set()
        span = _first_ephemeral_port() - _LOWEST_PORT - SIZE

        def block() -> int:
            while True:
                base = _LOWEST_PORT + secrets.randbelow(span)
                ports = set(range(base, base + SIZE + 1))
                if not ports & taken and not any(map(port_in_use, ports)):
                    taken.update(ports)
                    return base

        return cls(web=block(), api=block(), metrics=block(), postgres=block(), redis=block())


class Cluster:
    """The running cluster: URLs, the runner's children, HAProxy and the database."""

    def __init__(self, runner: Child, ports: Ports, data: Path) -> None:
        self.runner = runner
        self.ports = ports
        self.paths = RepoPaths(ROOT, data_dir=data)
        self.web_url = f"http://{HOST}:{ports.web}"
        self.api_url = f"http://{HOST}:{ports.api}"
        self.web_urls = [f"http://{HOST}:{ports.web + i}" for i in range(1, SIZE + 1)]
        self.api_urls = [f"http://{HOST}:{ports.api + i}" for i in range(1, SIZE + 1)]
        self.postgres = EmbeddedPostgres(self.paths.postgres_data, ports.postgres)

    @property
    def origin(self) -> str:
        """BETTER_AUTH_URL: the load balancer's origin, the one every instance trusts."""
        return self.web_url

    def pid(self, name: str) -> int:
        """The process (group) id of the runner's child `name` (`api-1`, `web-2`, `redis`)."""
        recorded = read_pidfile(self.paths.run_dir / f"{name}.pid")
        if recorded is None:
            raise StackFailed(f"{name} has no PID file")
        return recorded.pid

    def signal(self, name: str, sig: signal.Signals) -> int:
        """Send `sig` to every process of child `name`, as systemd's KillMode=control-group
        does; returns the group id."""
        pgid = self.pid(name)
        os.killpg(pgid, sig)
        return pgid

    def environ(self, name: str) -> dict[str, str]:
        """The environment the runner gave child `name`, read from the process itself."""
        raw = Path(f"/proc/{self.pid(name)}/environ").read_bytes()
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {key.decode(): value.decode() for key, value in pairs}

    def server_states(self) -> dict[str, str]:
        return server_states(self.paths.cluster_dir / "haproxy.sock")

    def sql(self, query: str, *, database: str = "tandem") -> str:
        return self.postgres.run_sql(query, database=database)

    def wait_until_up(self, name: str, *, timeout: float = 60.0) -> float:
        """Seconds until HAProxy reports server `name` UP again."""
        started = time.monotonic()
        while self.server_states().get(name) != "UP":
            if time.monotonic() - started > timeout:
                raise StackFailed(
                    f"{name} was not UP within {timeout:.0f} s: {self.server_states()}"
                )
            time.sleep(0.1)
        return time.monotonic() - started

    def check_alive(self) -> None:
        if not self.runner.alive():
            raise StackFailed(f"the cluster runner exited; the end of its log:\n{_tail(_LOG)}")


def _clear_leftovers(data: Path) -> None:
    """Stop whatever still runs from `data` (a killed run's children), then delete it."""
    if data.is_symlink() or (data.exists() and data.stat().st_uid != os.getuid()):
        raise StackFailed(f"{data} is not a directory this user made; remove it and run again")
    if data.is_dir():
        with Supervisor(data / "run"):
            pass  # claiming the run directory stops the children its PID files name
        with contextlib.suppress(Exception):
            EmbeddedPostgres(data / "postgres", 0).stop("immediate")
        shutil.rmtree(data)


def _environment(ports: Ports, data: Path) -> dict[str, str]:
    secret = secrets.token_urlsafe(32)
    sensitive.remember("the cluster's BETTER_AUTH_SECRET", secret)
    return _base_env() | {
        "TANDEM_ROOT": str(ROOT),
        "TANDEM_DATA_DIR": str(data),
        "CLUSTER_SIZE": str(SIZE),
        "WEB_PORT": str(ports.web),
        "API_PORT": str(ports.api),
        "METRICS_PORT": str(ports.metrics),
        "EMBEDDED_PG_PORT": str(ports.postgres),
        "EMBEDDED_REDIS_PORT": str(ports.redis),
        # 127.0.0.1, as the suite's other servers: the Origin a client sends is exactly it.
        "BETTER_AUTH_URL": f"http://{HOST}:{ports.web}",
        "BETTER_AUTH_SECRET": secret,
        "RATE_LIMIT_API": f"{RATE_LIMIT}/second",
        "NEXT_TELEMETRY_DISABLED": "1",
    }


def start_runner(env: Mapping[str, str], log: BinaryIO) -> Child:
    runner = Child(
        "cluster",
        ["uv", "run", "--project", str(BACKEND), "--frozen", "python", "-m", "tandem_stack",
         "cluster", "--no-build"],
        cwd=ROOT, env=env, output=log, grace=_STOP_TIMEOUT,
    )  # fmt: skip
    runner.start()
    return runner


def interrupt(runner: Child) -> int | None:
    """Ctrl-C, as a terminal sends it: SIGINT to the runner's process group; its exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(runner.pid, signal.SIGINT)
    return runner.wait(_STOP_TIMEOUT)


@contextlib.contextmanager
def running_cluster(*, smtp_url: str) -> Iterator[Cluster]:
    """A cluster of SIZE web and API instances, mailing to `smtp_url` (the suite's catcher);
    leaving stops it (Ctrl-C) if a test did not."""
    _clear_leftovers(_DATA)
    # 0755: as root the embedded PostgreSQL runs as another user, which must enter it.
    _DATA.mkdir()
    _DATA.chmod(0o755)  # not left to the umask
    ports = Ports.free()
    with _LOG.open("ab") as log:
        runner = start_runner(_environment(ports, _DATA) | {"SMTP_URL": smtp_url}, log)
        try:
            yield from _serve(Cluster(runner, ports, _DATA))
        finally:
            if runner.alive():
                interrupt(runner)
            runner.stop()
            _clear_leftovers(_DATA)


def _serve(cluster: Cluster) -> Iterator[Cluster]:
    """Wait until everything is up, behind HAProxy too, then hand the cluster over."""
    started = time.monotonic()
    while not (
        http_ok(f"{cluster.web_url}/api/health", timeout=2.0)
        and http_ok(f"{cluster.api_url}/ready", timeout=2.0)
        and "Tandem is running" in _LOG.read_text(encoding="utf-8", errors="replace")
        and set(cluster.server_states().values()) == {"UP"}
    ):
        cluster.check_alive()
        if time.monotonic() - started > _START_TIMEOUT:
            raise StackFailed(f"the cluster was not up within {_START_TIMEOUT:.0f} s")
        time.sleep(0.5)
    yield cluster
