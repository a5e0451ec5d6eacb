"""The Next.js app for the proxy benchmark: its production build, its server, a real user.

The build is reused when it is newer than every file `next build` reads; the
benchmark never builds in --smoke mode (a build takes minutes).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import Server, base_url, clean_env

_BUILD_TIMEOUT_SECONDS = 900
# What `next build` reads, besides node_modules: sources and the top-level configuration.
_BUILD_INPUT_DIRECTORIES = ("src", "public")
_BUILD_INPUT_FILES = (
    "package.json",
    "package-lock.json",
    "next.config.ts",
    "tsconfig.json",
    "postcss.config.mjs",
)
SESSION_COOKIE = "better-auth.session_token"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def build_problem(frontend: Path) -> str | None:
    """Why the production build cannot be used as it is, or None if it can."""
    if not (frontend / "node_modules" / ".package-lock.json").is_file():
        return "frontend/node_modules is missing (run make deps-frontend)"
    build_id = frontend / ".next" / "BUILD_ID"
    if not build_id.is_file():
        return "there is no production build (frontend/.next)"
    inputs = [frontend / name for name in _BUILD_INPUT_FILES]
    for directory in _BUILD_INPUT_DIRECTORIES:
        inputs.extend(p for p in (frontend / directory).rglob("*") if p.is_file())
    if max(map(_mtime, inputs), default=0.0) > _mtime(build_id):
        return "the production build is older than the sources"
    return None


def build(frontend: Path, log_dir: Path) -> None:
    log_path = log_dir / "web-build.log"
    with log_path.open("wb") as log:
        done = subprocess.run(
            ["npm", "run", "build"],
            cwd=frontend,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=_BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"npm run build failed:\n{tail}")


def web_server(
    frontend: Path, *, port: int, database_url: str, api_url: str, log_dir: Path
) -> Server:
    """`next start` on loopback, with Better Auth on `database_url` and the proxy aimed at
    `api_url`. Its issuer (and JWKS) is its own URL."""
    url = base_url(port)
    env = clean_env(
        NODE_ENV="production",
        WEB_PORT=str(port),
        DATABASE_URL=database_url,
        BETTER_AUTH_URL=url,
        BETTER_AUTH_SECRET=secrets.token_urlsafe(32),
        API_URL=api_url,
        JWT_ALGORITHM="EdDSA",
        JWT_ISSUER=url,
        JWT_AUDIENCE="tandem-api",
        # The benchmarks sign users up through the app and use the session cookie at once, as
        # before email verification existed: they measure the API, not the sign-up flow.
        REQUIRE_EMAIL_VERIFICATION="false",
        # Required by the app, but nothing the benchmarks drive sends mail (no verification, no
        # password reset): the discard port, where a message would fail and be logged.
        SMTP_URL="smtp://127.0.0.1:9",
    )
    argv = ["npx", "--no-install", "next", "start", "-H", "127.0.0.1", "-p", str(port)]
    return Server(
        "web", argv, cwd=frontend, env=env, log_dir=log_dir, ready_url=f"{url}/api/auth/ok"
    )


@dataclass(frozen=True)
class WebUser:
    user_id: str
    cookie: str
    """The `Cookie` header value a browser would send."""
    token: str
    """A JWT for the same session, from GET /api/auth/token."""


def sign_up(web_url: str) -> WebUser:
    """Sign a new user up through Better Auth, as the sign-up form does."""
    email = f"bench-{secrets.token_hex(6)}@example.com"
    with httpx.Client(base_url=web_url, trust_env=False, timeout=30) as client:
        response = client.post(
            "/api/auth/sign-up/email",
            json={"name": "Bench User", "email": email, "password": secrets.token_urlsafe(16)},
            headers={"Origin": web_url},
        )
        response.raise_for_status()
        user_id = response.json()["user"]["id"]
        session = client.cookies.get(SESSION_COOKIE)
        if session is None:
            raise RuntimeError("sign-up set no session cookie")
        cookie = f"{SESSION_COOKIE}={session}"
        token_response = client.get("/api/auth/token")
        token_response.raise_for_status()
        return WebUser(user_id, cookie, token_response.json()["token"])
