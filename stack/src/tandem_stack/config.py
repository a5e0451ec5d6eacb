"""The stack's settings, resolved once from the environment, and the environment its children get.

Defaults follow the contract in DESIGN.md section 3; anything already set wins.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tandem_stack.errors import ConfigError
from tandem_stack.paths import RepoPaths

DEFAULT_WEB_PORT = 3000
DEFAULT_API_PORT = 8000
DEFAULT_EMBEDDED_PG_PORT = 5433
DEFAULT_EMBEDDED_REDIS_PORT = 6380
DEFAULT_CLUSTER_SIZE = 2
MAX_CLUSTER_SIZE = 16
# `make cluster` serves instance i's metrics on METRICS_PORT + i, by default above the API ports.
CLUSTER_METRICS_OFFSET = 100
DEFAULT_JWT_AUDIENCE = "tandem-api"
DEFAULT_JWT_ALGORITHM = "EdDSA"

_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_LOCAL_HOSTS = "127.0.0.1,localhost,::1"


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} must be a port number (1-65535), not {raw!r}")
    return int(raw)


def _cluster_size(environ: Mapping[str, str]) -> int:
    raw = environ.get("CLUSTER_SIZE", "").strip()
    if not raw:
        return DEFAULT_CLUSTER_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_CLUSTER_SIZE:
        raise ConfigError(f"CLUSTER_SIZE must be from 1 to {MAX_CLUSTER_SIZE}, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    """Ports, URLs and the database location for one run of the stack."""

    paths: RepoPaths
    web_port: int
    api_port: int
    embedded_pg_port: int
    external_database_url: str | None
    """`DATABASE_URL` from the environment; None means the embedded cluster."""
    better_auth_url: str
    api_url: str
    jwks_url: str
    jwt_issuer: str
    jwt_audience: str
    jwt_algorithm: str
    smtp_url: str | None
    """`SMTP_URL` from the environment; None means the embedded mail catcher."""
    metrics_port: int | None = None
    """`METRICS_PORT`: the API serves Prometheus metrics there (it reads the variable itself)."""
    cluster_size: int = DEFAULT_CLUSTER_SIZE
    """`CLUSTER_SIZE`: API and web instances in `make cluster`."""
    embedded_redis_port: int = DEFAULT_EMBEDDED_REDIS_PORT
    external_redis_url: str | None = None
    """`REDIS_URL` from the environment; None means `make cluster` embeds redis-server."""

    @classmethod
    def from_env(cls, paths: RepoPaths, environ: Mapping[str, str] | None = None) -> "StackConfig":
        env = os.environ if environ is None else environ
        web_port = _port(env, "WEB_PORT", DEFAULT_WEB_PORT)
        api_port = _port(env, "API_PORT", DEFAULT_API_PORT)
        auth_url = (env.get("BETTER_AUTH_URL") or f"http://localhost:{web_port}").rstrip("/")
        return cls(
            paths=paths,
            web_port=web_port,
            api_port=api_port,
            embedded_pg_port=_port(env, "EMBEDDED_PG_PORT", DEFAULT_EMBEDDED_PG_PORT),
            external_database_url=env.get("DATABASE_URL") or None,
            better_auth_url=auth_url,
            api_url=(env.get("API_URL") or f"http://127.0.0.1:{api_port}").rstrip("/"),
            jwks_url=env.get("JWKS_URL") or f"{auth_url}/api/auth/jwks",
            jwt_issuer=env.get("JWT_ISSUER") or auth_url,
            jwt_audience=env.get("JWT_AUDIENCE") or DEFAULT_JWT_AUDIENCE,
            jwt_algorithm=env.get("JWT_ALGORITHM") or DEFAULT_JWT_ALGORITHM,
            smtp_url=env.get("SMTP_URL") or None,
            metrics_port=_port(env, "METRICS_PORT", 0) or None,
            cluster_size=_cluster_size(env),
            embedded_redis_port=_port(env, "EMBEDDED_REDIS_PORT", DEFAULT_EMBEDDED_REDIS_PORT),
            external_redis_url=env.get("REDIS_URL") or None,
        )

    @property
    def api_docs_url(self) -> str:
        return f"{self.api_url}/docs"

    @property
    def metrics_url(self) -> str | None:
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def cluster_metrics_base(self) -> int:
        """Instance i of `make cluster` serves its metrics on this port + i."""
        return self.metrics_port or self.api_port + CLUSTER_METRICS_OFFSET

    def child_env(
        self, *, database_url: str, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The runner's environment plus the resolved settings, so both sides agree on them."""
        env = dict(os.environ if base is None else base)
        env.update(
            WEB_PORT=str(self.web_port),
            API_PORT=str(self.api_port),
            DATABASE_URL=database_url,
            BETTER_AUTH_URL=self.better_auth_url,
            API_URL=self.api_url,
            JWKS_URL=self.jwks_url,
            JWT_ISSUER=self.jwt_issuer,
            JWT_AUDIENCE=self.jwt_audience,
            JWT_ALGORITHM=self.jwt_algorithm,
        )
        env.setdefault("NEXT_TELEMETRY_DISABLED", "1")
        # The web app's proxy calls the API from this machine and forwards the browser's
        # address, so the API can rate-limit per browser rather than per proxy.
        env.setdefault("TRUSTED_PROXIES", "127.0.0.1,::1")
        # Python children write through a pipe; without this their logs arrive in bursts.
        env.setdefault("PYTHONUNBUFFERED", "1")
        if any(env.get(name) for name in _PROXY_VARS):
            # The API fetches JWKS from the web app and the proxy calls the API: both local.
            for name in ("NO_PROXY", "no_proxy"):
                env[name] = ",".join(filter(None, (env.get(name), _LOCAL_HOSTS)))
        return env
