"""Redis for the cluster's shared rate limits: `REDIS_URL` when set, otherwise Debian's
redis-server under `.data/redis`, restarted with backoff if it dies (the API counts in each
process meanwhile, and returns to Redis by itself)."""

import logging
import os
import shutil
import socket

from tandem_stack.config import StackConfig
from tandem_stack.errors import ConfigError
from tandem_stack.readiness import LOCALHOST, port_in_use
from tandem_stack.restarts import Backoff
from tandem_stack.supervisor import Supervisor

READY_TIMEOUT = 15.0

log = logging.getLogger(__name__)


def redis_answers(port: int, *, timeout: float) -> bool:
    """True if a Redis server on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_argv(port: int, data_dir: str) -> list[str]:
    """A private, memory-only server: counters that last a minute need no persistence."""
    return [
        "redis-server", "--bind", LOCALHOST, "--port", str(port), "--dir", data_dir,
        "--save", "", "--appendonly", "no", "--protected-mode", "yes",
    ]  # fmt: skip


def prepare_redis(config: StackConfig, supervisor: Supervisor) -> str:
    """The Redis URL the API instances share: REDIS_URL, or an embedded server, started here."""
    if config.external_redis_url:
        log.info("using REDIS_URL")
        return config.external_redis_url
    if shutil.which("redis-server") is None:
        raise ConfigError("redis-server is not installed; run make deps-redis (or set REDIS_URL)")
    port = config.embedded_redis_port
    if port_in_use(port):
        raise ConfigError(f"port {port} is already in use; set EMBEDDED_REDIS_PORT to a free port")
    data = config.paths.redis_data
    data.mkdir(parents=True, exist_ok=True)
    service = supervisor.spawn_restarting(
        "redis", redis_argv(port, str(data)), cwd=data, env=os.environ, backoff=Backoff()
    )
    supervisor.wait_for(
        service.child,
        f"redis://{LOCALHOST}:{port}",
        lambda remaining: redis_answers(port, timeout=remaining),
        timeout=READY_TIMEOUT,
    )
    return f"redis://{LOCALHOST}:{port}/0"
