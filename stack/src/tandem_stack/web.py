"""The Next.js app: installing its packages, building it when stale, and starting it.

`run` rebuilds only when the build is missing or older than a source file, or when a
value baked into the build (NEXT_PUBLIC_*, BETTER_AUTH_URL) changed since: a production
build takes a minute, and restarting the stack should not cost one each time.
"""

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from tandem_stack.config import StackConfig
from tandem_stack.errors import ConfigError
from tandem_stack.readiness import LOCALHOST, port_in_use
from tandem_stack.supervisor import Supervisor

READY_TIMEOUT = {"run": 60.0, "dev": 180.0}  # dev compiles on the first request
# Directories that hold no sources: installed packages, build output, caches, reports.
_NOT_SOURCES = {"node_modules", "coverage", "test-results", "playwright-report", "out"}
_BAKED_IN = ("BETTER_AUTH_URL",)

log = logging.getLogger(__name__)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def needs_install(frontend: Path) -> bool:
    """True if node_modules is missing or older than package-lock.json."""
    installed = frontend / "node_modules" / ".package-lock.json"
    return not installed.is_file() or _mtime(frontend / "package-lock.json") > _mtime(installed)


# Written by tools as they run: `tsc` (incremental state) and `next typegen` on every typecheck.
_GENERATED_SUFFIXES = (".tsbuildinfo", "next-env.d.ts")


def newest_source(frontend: Path) -> float:
    """The latest modification time among the app's source files."""
    newest = _mtime(frontend / "node_modules" / ".package-lock.json")
    for directory, subdirs, files in os.walk(frontend):
        # Dot-directories are build output and caches (.next, .turbo, .git); dotfiles
        # such as .env.production are sources.
        subdirs[:] = [d for d in subdirs if d not in _NOT_SOURCES and not d.startswith(".")]
        for name in files:
            if not name.endswith(_GENERATED_SUFFIXES):
                newest = max(newest, _mtime(Path(directory) / name))
    return newest


def build_fingerprint(env: Mapping[str, str]) -> str:
    """A hash of the environment values that `next build` bakes into its output."""
    baked = sorted((k, v) for k, v in env.items() if k.startswith("NEXT_PUBLIC_") or k in _BAKED_IN)
    return hashlib.sha256(json.dumps(baked).encode()).hexdigest()


def needs_build(frontend: Path, stamp: Path, fingerprint: str) -> str | None:
    """Why the production build must be redone, or None if it is current."""
    build_id = frontend / ".next" / "BUILD_ID"
    if not build_id.is_file():
        return "no build yet"
    if newest_source(frontend) > _mtime(build_id):
        return "sources changed"
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        recorded = None
    return None if recorded == fingerprint else "build settings changed"


def prepare_web(
    config: StackConfig,
    supervisor: Supervisor,
    *,
    env: Mapping[str, str],
    dev: bool,
    rebuild: bool = False,
) -> bool:
    """Install packages and (for `run`) build; False (with a warning) if there is no app yet."""
    frontend = config.paths.frontend
    if not (frontend / "package.json").is_file():
        log.warning("frontend/package.json not found; skipping the web app")
        return False
    if needs_install(frontend):
        lock = frontend / "package-lock.json"
        command = ["npm", "ci"] if lock.is_file() else ["npm", "install"]
        supervisor.run_task("npm", [*command, "--no-audit", "--no-fund"], cwd=frontend, env=env)
    if dev:
        return True
    fingerprint = build_fingerprint(env)
    reason = (
        "--rebuild" if rebuild else needs_build(frontend, config.paths.web_build_stamp, fingerprint)
    )
    if reason is None:
        log.info("the web build is up to date")
        return True
    log.info("building the web app (%s)", reason)
    # Until the build succeeds, the next run must not take a half-written .next as current.
    config.paths.web_build_stamp.unlink(missing_ok=True)
    supervisor.run_task("build", ["npm", "run", "build"], cwd=frontend, env=env)
    config.paths.web_build_stamp.write_text(
        json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8"
    )
    return True


def next_argv(port: int, *, dev: bool = False) -> list[str]:
    """`next start` (or `next dev`) on 127.0.0.1:`port`."""
    return [
        "npx",
        "--no-install",
        "next",
        "dev" if dev else "start",
        "-H",
        LOCALHOST,
        "-p",
        str(port),
    ]


def start_web(
    config: StackConfig, supervisor: Supervisor, *, env: Mapping[str, str], dev: bool
) -> None:
    """Start `next start` (or `next dev`) and wait for Better Auth's /api/auth/ok."""
    if port_in_use(config.web_port):
        raise ConfigError(f"port {config.web_port} is already in use; set WEB_PORT to a free port")
    argv = next_argv(config.web_port, dev=dev)
    child = supervisor.spawn("web", argv, cwd=config.paths.frontend, env=env)
    supervisor.wait_ready(
        child,
        f"http://{LOCALHOST}:{config.web_port}/api/auth/ok",
        timeout=READY_TIMEOUT["dev" if dev else "run"],
    )


def create_signing_key(
    config: StackConfig, supervisor: Supervisor, *, env: Mapping[str, str]
) -> None:
    """The one-shot step before the web instances start: make the signing key (under the same
    advisory lock the instances take), unless a live one exists (scripts/create-signing-key.mts)."""
    argv = ["npx", "--no-install", "tsx", "scripts/create-signing-key.mts"]
    supervisor.run_task("signing-key", argv, cwd=config.paths.frontend, env=env)
