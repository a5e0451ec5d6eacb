"""HAProxy in front of the cluster's instances: its configuration, rendered from
`haproxy.cfg.template`, and the state of its servers, read from its stats socket."""

import csv
import io
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from tandem_stack.errors import ConfigError
from tandem_stack.readiness import LOCALHOST, port_in_use
from tandem_stack.restarts import Backoff, Restarting
from tandem_stack.supervisor import Supervisor

TEMPLATE = Path(__file__).with_name("haproxy.cfg.template")
READY_TIMEOUT = 15.0
WEB_BACKEND = "web_instances"
API_BACKEND = "api_instances"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Balancer:
    """What HAProxy balances: the ports it listens on and the instances' ports behind each."""

    web_port: int
    api_port: int
    web_instances: Sequence[int]
    api_instances: Sequence[int]
    web_proxy_sources: Sequence[str] = (LOCALHOST,)
    """Where the web instances connect from: the only clients whose X-Forwarded-For the API
    frontend keeps."""


def server_name(kind: str, index: int) -> str:
    """`web-1`, `api-2`: the same names as the runner's children."""
    return f"{kind}-{index}"


def _servers(kind: str, ports: Sequence[int]) -> str:
    return "\n".join(
        f"    server {server_name(kind, index)} {LOCALHOST}:{port} check"
        for index, port in enumerate(ports, start=1)
    )


def render(balancer: Balancer, *, stats_socket: Path) -> str:
    """The configuration `make cluster` runs HAProxy with."""
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        stats_socket=str(stats_socket),
        bind_host=LOCALHOST,
        web_port=balancer.web_port,
        api_port=balancer.api_port,
        web_proxy_sources=" ".join(balancer.web_proxy_sources),
        web_servers=_servers("web", balancer.web_instances),
        api_servers=_servers("api", balancer.api_instances),
    )


def start_haproxy(supervisor: Supervisor, balancer: Balancer, *, directory: Path) -> Path:
    """Write the configuration, check it, and run HAProxy (restarted if it dies); returns
    the stats socket's path."""
    # Debian installs it in /usr/sbin, which a user's PATH may lack.
    program = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if program is None:
        raise ConfigError("haproxy is not installed; run make deps-haproxy")
    for port in (balancer.web_port, balancer.api_port):
        if port_in_use(port):
            raise ConfigError(f"port {port} is already in use; set WEB_PORT and API_PORT elsewhere")
    directory.mkdir(parents=True, exist_ok=True)
    stats = directory / "haproxy.sock"
    config = directory / "haproxy.cfg"
    config.write_text(render(balancer, stats_socket=stats), encoding="utf-8")
    checked = subprocess.run(
        [program, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise ConfigError(f"HAProxy refused {config}: {checked.stderr.strip()}")
    service: Restarting = supervisor.spawn_restarting(
        "haproxy",
        [program, "-db", "-f", str(config)],
        cwd=directory,
        env=os.environ,
        backoff=Backoff(),
    )
    supervisor.wait_for(
        service.child,
        f"{LOCALHOST}:{balancer.web_port} and :{balancer.api_port}",
        lambda _remaining: port_in_use(balancer.web_port) and port_in_use(balancer.api_port),
        timeout=READY_TIMEOUT,
    )
    return stats


def server_states(stats_socket: Path, *, timeout: float = 2.0) -> dict[str, str]:
    """Each server's check status by name (`web-1`: `UP`, `DOWN`, `UP 1/2` going down, ...)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(stats_socket))
        connection.sendall(b"show stat\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    states = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["pxname"] in (WEB_BACKEND, API_BACKEND) and row["svname"] != "BACKEND":
            states[row["svname"]] = row["status"]
    return states
