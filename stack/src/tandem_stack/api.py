"""The FastAPI process: how it starts and how the runner knows it is up."""

import logging
from collections.abc import Mapping

from tandem_stack.config import StackConfig
from tandem_stack.errors import ConfigError
from tandem_stack.readiness import LOCALHOST, port_in_use
from tandem_stack.supervisor import Supervisor

READY_TIMEOUT = 90.0
GRACEFUL_SHUTDOWN_SECONDS = 8  # below the supervisor's 10 s grace before SIGKILL
APP = "tandem.main:create_app"

log = logging.getLogger(__name__)


def uvicorn_args(
    port: int, *, app: str = APP, graceful_shutdown_seconds: int = GRACEFUL_SHUTDOWN_SECONDS
) -> list[str]:
    """How the API is served: by the runner, the tests and the benchmarks, as it runs."""
    return [
        "uvicorn", app, "--factory", "--host", LOCALHOST, "--port", str(port),
        # On SIGTERM, in-flight requests get this long to finish before the pool closes.
        "--timeout-graceful-shutdown", str(graceful_shutdown_seconds),
        # Our JSON logs record every authentication result; uvicorn's access log would
        # add an unstructured line per request.
        "--no-access-log",
        # One mechanism for forwarded addresses, the API's own TRUSTED_PROXIES: uvicorn's
        # would otherwise believe X-Forwarded-For from 127.0.0.1 before ours ever ran.
        "--no-proxy-headers",
    ]  # fmt: skip


def start_api(
    config: StackConfig, supervisor: Supervisor, *, env: Mapping[str, str], reload: bool
) -> bool:
    """Start uvicorn and wait for GET /health; False (with a warning) if there is no app yet."""
    backend = config.paths.backend
    if not (backend / "src" / "tandem" / "main.py").is_file():
        log.warning("backend/src/tandem/main.py not found; skipping the API")
        return False
    if port_in_use(config.api_port):
        # Otherwise another server on the port could answer the readiness probe.
        raise ConfigError(f"port {config.api_port} is already in use; set API_PORT to a free port")
    argv = config.paths.backend_command(*uvicorn_args(config.api_port))
    if reload:
        argv += ["--reload", "--reload-dir", str(backend / "src")]
    child = supervisor.spawn("api", argv, cwd=config.paths.root, env=env)
    supervisor.wait_ready(
        child, f"http://{LOCALHOST}:{config.api_port}/health", timeout=READY_TIMEOUT
    )
    return True
