"""Where things live in a Tandem checkout: the repository root and the files under `.data/`."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tandem_stack.errors import ConfigError

ROOT_ENV = "TANDEM_ROOT"
DATA_ENV = "TANDEM_DATA_DIR"


@dataclass(frozen=True)
class RepoPaths:
    """The paths the runner reads and writes, all derived from the repository root."""

    root: Path
    data_dir: Path | None = None
    """`$TANDEM_DATA_DIR`: where machine-local state lives instead of `.data/` (a test suite
    runs its own cluster beside a developer's)."""

    @property
    def env_file(self) -> Path:
        return self.root / ".env"

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    def backend_command(self, *args: str) -> list[str]:
        """argv that runs a program in the back end's environment, as locked (`--frozen`:
        the runner never rewrites uv.lock)."""
        return ["uv", "run", "--frozen", "--project", str(self.backend), *args]

    @property
    def frontend(self) -> Path:
        return self.root / "frontend"

    @property
    def data(self) -> Path:
        """Machine-local state; never committed."""
        return self.data_dir or self.root / ".data"

    @property
    def postgres_data(self) -> Path:
        return self.data / "postgres"

    @property
    def owner_password(self) -> Path:
        return self.data / "postgres-owner-password"

    @property
    def app_password(self) -> Path:
        """The password of `tandem_app`, the API's own login."""
        return self.data / "postgres-app-password"

    @property
    def mail(self) -> Path:
        """The embedded mail catcher's messages, one `.eml` file each."""
        return self.data / "mail"

    @property
    def run_dir(self) -> Path:
        """PID files of the runner and its children."""
        return self.data / "run"

    @property
    def redis_data(self) -> Path:
        return self.data / "redis"

    @property
    def cluster_dir(self) -> Path:
        """What `make cluster` generates: the load balancer's configuration, its stats socket."""
        return self.data / "cluster"

    @property
    def web_build_stamp(self) -> Path:
        """Fingerprint of the environment the last web build saw."""
        return self.data / "web-build.json"


def data_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    configured = env.get(DATA_ENV, "").strip()
    return Path(configured).resolve() if configured else None


def _is_root(directory: Path) -> bool:
    return (directory / "stack").is_dir() and (directory / "backend").is_dir()


def find_root(environ: Mapping[str, str] | None = None, start: Path | None = None) -> Path:
    """The repository root: `$TANDEM_ROOT`, else the nearest directory holding `stack/` and
    `backend/` above the working directory, else above this package's own source."""
    env = os.environ if environ is None else environ
    if configured := env.get(ROOT_ENV):
        root = Path(configured).resolve()
        if not _is_root(root):
            raise ConfigError(f"{ROOT_ENV}={configured} has no stack/ and backend/ directories")
        return root
    # The package's own location covers an editable install run from outside the checkout.
    for origin in (start or Path.cwd(), Path(__file__)):
        for directory in (origin.resolve(), *origin.resolve().parents):
            if _is_root(directory):
                return directory
    raise ConfigError(
        f"cannot find the Tandem repository (a directory with stack/ and backend/); "
        f"run from inside it or set {ROOT_ENV}"
    )
