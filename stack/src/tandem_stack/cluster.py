"""`make cluster`: CLUSTER_SIZE web and API instances behind HAProxy, on one PostgreSQL and
one Redis, as several hosts would run them (docs/deployment.md).

Web instance i listens on WEB_PORT+i and API instance i on API_PORT+i (metrics on
METRICS_PORT+i); HAProxy listens on WEB_PORT and API_PORT. Every instance gets the same
settings and secrets. The web instances' proxy reaches the API through HAProxy, and the API
reads its keys through it too. Each instance is restarted with backoff if it dies.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from tandem_stack.api import READY_TIMEOUT as API_READY_TIMEOUT
from tandem_stack.api import uvicorn_args
from tandem_stack.config import StackConfig
from tandem_stack.errors import ConfigError
from tandem_stack.haproxy import Balancer, server_name, start_haproxy
from tandem_stack.readiness import LOCALHOST, port_in_use
from tandem_stack.restarts import Backoff, Restarting
from tandem_stack.supervisor import Supervisor
from tandem_stack.web import READY_TIMEOUT as WEB_READY_TIMEOUTS
from tandem_stack.web import next_argv

# The web instances' health check: a Next.js route outside Better Auth's rate limiter.
WEB_HEALTH_PATH = "/api/health"
INSTANCE_BACKOFF = Backoff(first=0.5, ceiling=10.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Instance:
    name: str
    port: int
    url: str
    metrics_url: str | None = None


@dataclass(frozen=True)
class Topology:
    """Where everything listens, derived from the ports in StackConfig."""

    web: list[Instance]
    api: list[Instance]

    @classmethod
    def of(cls, config: StackConfig) -> "Topology":
        sizes = range(1, config.cluster_size + 1)
        metrics = config.cluster_metrics_base
        return cls(
            web=[_instance("web", i, config.web_port + i) for i in sizes],
            api=[_instance("api", i, config.api_port + i, metrics_port=metrics + i) for i in sizes],
        )

    def ports(self) -> list[int]:
        ports = [instance.port for instance in (*self.web, *self.api)]
        return ports + [_port_of(i.metrics_url) for i in self.api if i.metrics_url]


def _instance(kind: str, index: int, port: int, *, metrics_port: int | None = None) -> Instance:
    url = f"http://{LOCALHOST}:{port}"
    metrics = f"http://{LOCALHOST}:{metrics_port}/metrics" if metrics_port else None
    return Instance(server_name(kind, index), port, url, metrics)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def check_ports_free(config: StackConfig, topology: Topology) -> None:
    """Refuse to start over something already listening (it could answer a health check)."""
    if busy := [port for port in topology.ports() if port_in_use(port)]:
        raise ConfigError(
            f"ports {', '.join(map(str, busy))} are in use; the cluster needs WEB_PORT+1..+"
            f"{config.cluster_size}, API_PORT+1..+{config.cluster_size} and METRICS_PORT+1..: "
            "set WEB_PORT, API_PORT or METRICS_PORT elsewhere"
        )


def start_web_instances(
    config: StackConfig, supervisor: Supervisor, topology: Topology, *, env: Mapping[str, str]
) -> None:
    """Every web instance at once (one build), then wait until each answers its health check."""
    started = [
        supervisor.spawn_restarting(
            web.name,
            next_argv(web.port),
            cwd=config.paths.frontend,
            env=env,
            backoff=INSTANCE_BACKOFF,
        )
        for web in topology.web
    ]
    for service, web in zip(started, topology.web, strict=True):
        supervisor.wait_ready(
            service.child, web.url + WEB_HEALTH_PATH, timeout=WEB_READY_TIMEOUTS["run"]
        )


def start_api_instances(
    config: StackConfig, supervisor: Supervisor, topology: Topology, *, env: Mapping[str, str]
) -> None:
    """Every API instance at once, each with its own metrics port; wait until each is ready
    (database and keys usable)."""
    started: list[Restarting] = []
    for api in topology.api:
        instance_env = dict(env, API_PORT=str(api.port))
        if api.metrics_url:
            instance_env["METRICS_PORT"] = str(_port_of(api.metrics_url))
        argv = config.paths.backend_command(*uvicorn_args(api.port))
        started.append(
            supervisor.spawn_restarting(
                api.name, argv, cwd=config.paths.root, env=instance_env, backoff=INSTANCE_BACKOFF
            )
        )
    for service, api in zip(started, topology.api, strict=True):
        supervisor.wait_ready(service.child, api.url + "/ready", timeout=API_READY_TIMEOUT)


def start_balancer(config: StackConfig, supervisor: Supervisor, topology: Topology) -> None:
    balancer = Balancer(
        web_port=config.web_port,
        api_port=config.api_port,
        web_instances=[web.port for web in topology.web],
        api_instances=[api.port for api in topology.api],
    )
    start_haproxy(supervisor, balancer, directory=config.paths.cluster_dir)
