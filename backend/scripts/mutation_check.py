"""Switch each security check off, one at a time, and watch its tests fail.

Run from ``backend/``: ``uv run python scripts/mutation_check.py [NAME ...]``
(``make mutation`` does). Each mutation replaces one exact snippet of the
source with a version that skips the check. It is applied to a temporary
copy of the back end, tandem-auth and the stack, never to these files; the copy's
tests run with this interpreter and every copy's ``src`` on ``PYTHONPATH``,
so the copy is what they import (checked before anything runs). A mutation
is *killed* when at least one of its tests fails, and *survives* when they
all pass. The script prints a table
and exits 1 if any mutation survived or could not be applied.

Checks left out on purpose are listed in ``REDUNDANT_BY_DESIGN`` with the
reason: switching one of them off changes nothing a client or the audit log
can observe, because another check (named there) refuses the same input.

Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Copied, relative to the repository root; the tests run from the back end's copy.
COPIED = ("backend", "packages/tandem-auth", "stack")
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"
)
AUTH = "packages/tandem-auth/src/tandem_auth"
SHAPE = f"{AUTH}/token_shape.py"
VERIFIER = f"{AUTH}/verifier.py"
JWKS = f"{AUTH}/jwks.py"
BEARER = f"{AUTH}/fastapi.py"
LIVE_SESSIONS = f"{AUTH}/postgres/live_sessions.py"
SESSION_CHECK = f"{AUTH}/postgres/check.py"
KEY_KINDS = f"{AUTH}/algorithms.py"
APP = "backend/src/tandem"
STACK = "stack/src/tandem_stack"
EMBEDDED = "tests/db/test_embedded_stack.py"
MIGRATION_0002 = "backend/migrations/versions/0002_task_table_with_rls.py"
DB = f"{APP}/db.py"
GUARD = f"{APP}/rls_guard.py"

CLAIMS = "tests/auth/test_claims.py"
HEADER = "tests/auth/test_header.py"
TRANSPORT = "tests/auth/test_transport.py"
FORGERY = "tests/auth/test_forgery.py"
JWKS_TESTS = "tests/auth/test_jwks_cache.py"
EXTRA_AUTH = "tests/auth/test_extra_attacks.py"
BOLA = "tests/tasks/test_bola.py"
RLS = "tests/db/test_rls.py"
RLS_GUARD = "tests/db/test_rls_guard.py"
FUZZ = "tests/fuzz/test_schemathesis.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions


VERIFIER_AND_DATABASE: tuple[Mutation, ...] = (
    # --- token_shape.py: the header and the compact shape ---------------------------------------
    Mutation(
        "forbidden header params (jku, x5u, jwk, x5c, crit, cty) allowed",
        SHAPE,
        "if not _FORBIDDEN_HEADER_PARAMS.isdisjoint(header):",
        "if False:",
        (HEADER, "-k", "naming_a_key or crit_or_cty"),
    ),
    Mutation(
        "any alg accepted in the header",
        SHAPE,
        'if header.get("alg") != algorithm:',
        "if False:",
        (FORGERY, "-k", "alg_none or public_key or es256"),
    ),
    Mutation(
        "kid pattern skipped",
        SHAPE,
        "not (isinstance(kid, str) and _KID.fullmatch(kid))",
        "not isinstance(kid, str)",
        (HEADER, "-k", "malformed_kid or path_sql_or_shell"),
    ),
    Mutation(
        "kid type skipped",
        SHAPE,
        "not (isinstance(kid, str) and _KID.fullmatch(kid))",
        "not (kid is not None and _KID.fullmatch(str(kid)))",
        (HEADER, "-k", "malformed_kid"),
    ),
    Mutation(
        "typ not checked",
        SHAPE,
        'if not isinstance(typ, str) or typ.upper() != "JWT":',
        "if False:",
        (HEADER, "-k", "other_typ"),
    ),
    Mutation(
        "header not required to be an object",
        SHAPE,
        '    if not isinstance(header, dict):\n        raise InvalidToken("malformed_header")',
        "    if not isinstance(header, dict):\n        header = {}",
        (HEADER, "-k", "not_a_json_object"),
    ),
    Mutation(
        "segments not required to be base64url",
        SHAPE,
        "    if not _COMPACT_JWS.fullmatch(token):",
        '    if token.count(".") != 2:',
        (TRANSPORT, "-k", "not_compact_base64url"),
    ),
    Mutation(
        "token length not capped in the verifier",
        SHAPE,
        '    if len(token) > MAX_TOKEN_LENGTH:\n        raise InvalidToken("too_long")',
        "    pass",
        (TRANSPORT, "-k", "verifier_itself"),
    ),
    Mutation(
        "NUL or BOM allowed in JSON text (UTF-16/32 guessing)",
        SHAPE,
        'if text is None or "\\x00" in text or text.startswith("\\ufeff"):',
        "if text is None:",
        (TRANSPORT, "-k", "not_a_utf8_json_object or not_utf8"),
    ),
    Mutation(
        "payload not checked as UTF-8 before PyJWT",
        SHAPE,
        "    utf8_text(encoded_payload)  # PyJWT parses the claims later, from bytes\n",
        "",
        (TRANSPORT, "-k", "not_a_utf8_json_object"),
    ),
    # --- verifier.py: the decode and the post-checks --------------------------------------------
    Mutation(
        "kid optional in EdDSA mode",
        VERIFIER,
        "self._require_kid = settings.algorithm != SHARED_SECRET_ALGORITHM",
        "self._require_kid = False",
        (EXTRA_AUTH, "-k", "kid_is_required_by_the_verifier"),
    ),
    Mutation(
        "exp and iat not checked as JSON numbers",
        VERIFIER,
        "if not (_is_json_number(exp) and _is_json_number(iat)):",
        "if False:",
        (CLAIMS, "-k", "wrong_type"),
    ),
    Mutation(
        "booleans taken as numbers",
        VERIFIER,
        "isinstance(value, int | float) and not isinstance(value, bool)",
        "isinstance(value, int | float)",
        (CLAIMS, "-k", "wrong_type"),
    ),
    Mutation(
        "lifetime not checked",
        VERIFIER,
        "if not iat < exp <= iat + self.settings.max_lifetime_seconds:",
        "if False:",
        (CLAIMS, "-k", "lifetime"),
    ),
    Mutation(
        "lifetime allowed to be zero or negative",
        VERIFIER,
        "if not iat < exp <= iat + self.settings.max_lifetime_seconds:",
        "if not exp <= iat + self.settings.max_lifetime_seconds:",
        (CLAIMS, "-k", "lifetime"),
    ),
    Mutation(
        "sub pattern skipped",
        VERIFIER,
        "if not (isinstance(sub, str) and _ID_PATTERN.fullmatch(sub)):",
        "if not isinstance(sub, str):",
        (CLAIMS, "-k", "malformed_sub"),
    ),
    Mutation(
        "sid pattern skipped",
        VERIFIER,
        "elif not (isinstance(sid, str) and _ID_PATTERN.fullmatch(sid)):",
        "elif False:",
        (EXTRA_AUTH, "-k", "sid"),
    ),
    Mutation(
        "tokens without sid accepted though sid is required",
        VERIFIER,
        "            if self.settings.require_sid:\n"
        '                raise InvalidToken("missing_sid")',
        "            pass",
        (CLAIMS, "-k", "without_sid_is_refused"),
    ),
    Mutation(
        "require removed (exp, iat, iss, aud, sub optional)",
        VERIFIER,
        'self._decode_options: Any = {"require": _REQUIRED_CLAIMS}',
        "self._decode_options: Any = {}",
        (CLAIMS, "-k", "missing_required_claim"),
    ),
    Mutation(
        "issuer not checked",
        VERIFIER,
        "issuer=self.settings.issuer,",
        "issuer=None,",
        (CLAIMS, "-k", "wrong_issuer"),
    ),
    Mutation(
        "leeway unbounded (an hour)",
        VERIFIER,
        "leeway=self.settings.leeway_seconds,",
        "leeway=3600,",
        (CLAIMS, "-k", "expired or future_beyond"),
    ),
    Mutation(
        "verified tokens cached past exp",
        f"{AUTH}/token_cache.py",
        "if principal is not None and principal.expires_at + self._leeway <= time.time():",
        "if False:",
        (CLAIMS, "-k", "cached_token"),
    ),
    Mutation(
        "cached tokens kept when their kid leaves the JWKS",
        VERIFIER,
        "keys.on_keys_removed(self._cache.forget_kids)",
        "None",
        (JWKS_TESTS, "-k", "leaves_the_jwks or drops_removed_kids"),
    ),
    # --- jwks.py: which keys are trusted, and how they are fetched ------------------------------
    Mutation(
        "JWK with a private d trusted",
        KEY_KINDS,
        "        or any(private in jwk for private in _PRIVATE_MEMBERS)\n",
        "",
        (FORGERY, "-k", "not_ed25519_signing_keys"),
    ),
    Mutation(
        "JWK of another crv trusted",
        KEY_KINDS,
        'or (kind.crv is not None and jwk.get("crv") != kind.crv)',
        "or False",
        (FORGERY, "-k", "not_ed25519_signing_keys"),
    ),
    Mutation(
        "JWK with use other than sig trusted",
        KEY_KINDS,
        'or jwk.get("use", "sig") != "sig"',
        "or False",
        (FORGERY, "-k", "not_ed25519_signing_keys"),
    ),
    Mutation(
        "JWK with another alg trusted",
        KEY_KINDS,
        'or jwk.get("alg", algorithm) not in kind.algs',
        "or False",
        (FORGERY, "-k", "not_ed25519_signing_keys"),
    ),
    Mutation(
        "JWK key_ops ignored",
        KEY_KINDS,
        'or not _allows_verify(jwk.get("key_ops"))',
        "or False",
        (FORGERY, "-k", "not_ed25519_signing_keys"),
    ),
    Mutation(
        "JWKS redirects followed",
        JWKS,
        "follow_redirects=False,",
        "follow_redirects=True,",
        (JWKS_TESTS, "-k", "redirecting"),
    ),
    Mutation(
        "JWKS body size not capped while streaming",
        JWKS,
        "                if len(body) > self._max_body_bytes:",
        "                if False:",
        (JWKS_TESTS, "-k", "no_declared_length"),
    ),
    Mutation(
        "JWKS fetch without a total deadline",
        JWKS,
        "async with asyncio.timeout(self._fetch_timeout):",
        "async with asyncio.timeout(None):",
        (JWKS_TESTS, "-k", "slow_drip"),
    ),
    Mutation(
        "JWKS fetch through a proxy from the environment",
        JWKS,
        "trust_env=False,",
        "trust_env=True,",
        (EXTRA_AUTH, "-k", "proxy"),
    ),
    Mutation(
        "unknown-kid refetch without a cooldown",
        JWKS,
        "                if wait > 0:",
        "                if False:",
        (HEADER, JWKS_TESTS, "-k", "thousand_unknown_kids or respect_the_cooldown"),
    ),
    Mutation(
        "no kid in the key lookup accepted",
        JWKS,
        '        if kid is None:\n            raise InvalidToken("bad_kid")\n',
        "",
        (EXTRA_AUTH, "-k", "kid_is_required"),
    ),
    # --- dependencies.py: reading the credential -------------------------------------------------
    Mutation(
        "two credentials accepted",
        BEARER,
        'if len(credentials) > 1 or (credentials and "access_token" in request.query_params):',
        "if False:",
        (TRANSPORT, "-k", "bad_request"),
    ),
    Mutation(
        "token in the query taken as missing",
        BEARER,
        '        if "access_token" in request.query_params:\n'
        '            raise InvalidToken("token_in_query")\n',
        "",
        (TRANSPORT, "-k", "only_in_the_query"),
    ),
    Mutation(
        "scheme not checked",
        BEARER,
        'if scheme.lower() != "bearer" or not token:',
        "if not token:",
        (TRANSPORT, "-k", "other_schemes"),
    ),
    Mutation(
        "Authorization header length not capped",
        BEARER,
        '    if len(header) > _MAX_HEADER_LENGTH:\n        raise InvalidToken("too_long")\n',
        "",
        (EXTRA_AUTH, "-k", "authorization_header"),
    ),
    Mutation(
        "path user not checked against sub",
        BEARER,
        "    if user_id != principal.sub:",
        "    if False:",
        (BOLA, FUZZ, "-k", "forbidden or holds_the_gates"),
    ),
    # --- db.py and rls_guard.py: revocation and the database's own isolation --------------------
    Mutation(
        "revocation skipped",
        DB,
        '            if context["live_until"] is None:\n                raise RevokedSession()',
        "            if False:\n                raise RevokedSession()",
        (CLAIMS, "-k", "signed_out or deleted_user"),
    ),
    Mutation(
        "revocation skipped where the live-session check answers (/api/me)",
        SESSION_CHECK,
        "        if live_until is None:\n            raise RevokedSession()",
        "        if False:\n            raise RevokedSession()",
        (CLAIMS, "-k", "signed_out or deleted_user"),
    ),
    Mutation(
        "session of another user accepted",
        DB,
        'WHERE id = $2 AND "userId" = $1 AND "expiresAt" > now())',
        'WHERE id = $2 AND "expiresAt" > now())',
        (CLAIMS, "-k", "sid_of_another_user"),
    ),
    Mutation(
        "expired session accepted",
        DB,
        'WHERE id = $2 AND "userId" = $1 AND "expiresAt" > now())',
        'WHERE id = $2 AND "userId" = $1)',
        (CLAIMS, "-k", "expired_session"),
    ),
    Mutation(
        "user context set for the session, not the transaction",
        DB,
        "       set_config('app.user_id', $1, true),",
        # The same call with is_local flipped to false (session-wide), spelled as a swap.
        "       set_config('app.user_id', $1, true),".replace("true", "false"),
        (RLS, "-k", "pool_of_one or failed_transaction"),
    ),
    Mutation(
        "no switch to the least-privilege role",
        DB,
        "else f\"set_config('role', '{APP_ROLE}', true),\"",
        'else ""',
        (RLS, "-k", "app_role or pool_of_one"),
    ),
    Mutation(
        "no RLS guard at startup",
        f"{APP}/main.py",
        "                await check_row_level_security(connection)",
        "                pass",
        (RLS_GUARD, "-k", "refuses"),
    ),
    Mutation(
        "RLS guard accepts a superuser or BYPASSRLS role",
        GUARD,
        "if superuser or bypasses_rls:",
        "if False:",
        (RLS_GUARD, "-k", "bypass or superuser_login"),
    ),
    Mutation(
        "RLS guard accepts a table without forced RLS",
        GUARD,
        "        if not forced:",
        "        if False:",
        (RLS_GUARD, "-k", "without_forced_rls"),
    ),
    Mutation(
        "RLS guard accepts the table owner",
        GUARD,
        "        if acts_as_owner:",
        "        if False:",
        (RLS_GUARD, "-k", "owns or owner"),
    ),
)

# --- outside the verifier: responses, bodies, addresses, the session cache ------------------
EXTRA: tuple[Mutation, ...] = (
    Mutation(
        "per-user responses cacheable",
        f"{APP}/middleware.py",
        '                if per_user:\n                    headers["Cache-Control"] = "no-store"\n',
        "",
        ("tests/tasks/test_task_api.py", "-k", "not_cached"),
    ),
    Mutation(
        "hostile X-Request-ID adopted",
        f"{APP}/middleware.py",
        "        if not _SAFE_REQUEST_ID.fullmatch(request_id):\n",
        "        if not request_id:\n",
        (EXTRA_AUTH, "-k", "request_id"),
    ),
    Mutation(
        "streamed body not capped",
        f"{APP}/middleware.py",
        "            if size > self.max_body_bytes:",
        "            if False:",
        ("tests/tasks/test_request_bodies.py", "-k", "chunked"),
    ),
    Mutation(
        "X-Forwarded-For believed from any peer",
        f"{APP}/rate_limit.py",
        "if not trusted or not _is_trusted(peer, trusted):",
        "if not trusted:",
        ("tests/test_rate_limit.py", "-k", "untrusted or trusted_hops"),
    ),
    # The fuzz gates on their own: each of these is also caught by the fuzz suite alone.
    Mutation(
        "path user not checked against sub (fuzz only)",
        BEARER,
        "    if user_id != principal.sub:",
        "    if False:",
        (FUZZ, "-k", "holds_the_gates"),
    ),
    Mutation(
        "delete answers 204 but keeps the row (fuzz only)",
        f"{APP}/tasks/service.py",
        "        delete(_TASK)"
        ".where(*_owned(), *_version_matches(checked)).returning(_TASK.c.id)\n",
        "        select(_TASK.c.id).where(*_owned(), *_version_matches(checked))\n",
        (FUZZ, "-k", "stateful"),
    ),
    Mutation(
        "cached live session served to another sub",
        LIVE_SESSIONS,
        "            and entry.sub == sub\n",
        "",
        ("tests/test_live_sessions.py", "-k", "served_from_the_cache"),
    ),
    # --- security pass 2 ---------------------------------------------------------------------
    Mutation(
        "per-user count before the session check (task routes)",
        f"{APP}/deps.py",
        "        with _logging_revocation(principal, request):\n"
        "            async with database(request).user_transaction(principal) as connection:\n"
        "                await _count_user(principal, request)\n",
        "        await _count_user(principal, request)\n"
        "        with _logging_revocation(principal, request):\n"
        "            async with database(request).user_transaction(principal) as connection:\n",
        ("tests/test_rate_limit.py", "-k", "revoked and tasks"),
    ),
    Mutation(
        "RLS guard accepts a superuser or BYPASSRLS login role",
        GUARD,
        "    if login_superuser or login_bypasses_rls:",
        "    if False:",
        (RLS_GUARD, "-k", "login_role_behind_the_role_switch"),
    ),
    Mutation(
        "migration 0002 grants the app role to an owner that is already its member",
        MIGRATION_0002,
        "IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN",
        "IF true THEN",
        ("tests/db/test_migrations.py", "-k", "without_the_app_role"),
    ),
    Mutation(
        "migration 0002 gives no clear message when it may not create the app role",
        MIGRATION_0002,
        "                EXCEPTION WHEN insufficient_privilege THEN\n"
        "                    RAISE EXCEPTION 'the role {APP_ROLE} does not exist",
        "                EXCEPTION WHEN division_by_zero THEN\n"
        "                    RAISE EXCEPTION 'the role {APP_ROLE} does not exist",
        ("tests/db/test_migrations.py", "-k", "without_the_app_role"),
    ),
    Mutation(
        "the embedded cluster's owner keeps CREATEROLE",
        f"{STACK}/postgres.py",
        "WITH LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS PASSWORD %L",
        "WITH LOGIN CREATEROLE PASSWORD %L",
        (EMBEDDED, "-k", "owner"),
    ),
    Mutation(
        "an older stack's owner is not stripped of CREATEROLE",
        f"{STACK}/postgres.py",
        "WITH LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS PASSWORD %L",
        "WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %L",
        (EMBEDDED, "-k", "older_stack"),
    ),
    Mutation(
        "the embedded tandem_app cannot log in",
        f"{STACK}/postgres.py",
        "CASE WHEN :'app_verifier' = '' THEN 'NOLOGIN' ELSE 'LOGIN' END",
        "'NOLOGIN'",
        (EMBEDDED, "-k", "app_role_is_a_login or logs_in_with_its_own_password"),
    ),
    Mutation(
        "make api gives the API the owner's URL",
        f"{STACK}/commands.py",
        "started = start_api(config, supervisor, env=api_env(env, database), reload=reload)",
        "started = start_api(config, supervisor, env=env, reload=reload)",
        (EMBEDDED, "-k", "api_logs_in_as_the_app_role"),
    ),
    Mutation(
        "make run and make dev give the API the owner's URL",
        f"{STACK}/commands.py",
        "has_api = start_api(config, supervisor, env=api_env(env, database), reload=dev)",
        "has_api = start_api(config, supervisor, env=env, reload=dev)",
        (EMBEDDED, "-k", "make_run_and_dev"),
    ),
    Mutation(
        "an existing .env keeps its permissions",
        f"{STACK}/dotenv.py",
        "    restrict_to_owner(path)\n",
        "",
        (EMBEDDED, "-k", "env_file"),
    ),
    Mutation(
        "uvicorn's proxy headers on",
        f"{STACK}/api.py",
        '        "--no-proxy-headers",\n',
        "",
        ("tests/test_rate_limit.py", "-k", "served_api_trusts_no_forwarded_for"),
    ),
    Mutation(
        "/ready probes the database on every call",
        f"{APP}/health.py",
        "if time.monotonic() - self._answered_at >= self._interval:",
        "if True:",
        ("tests/test_health.py", "-k", "at_most_once_a_second"),
    ),
    Mutation(
        "a database error's message logged",
        f"{APP}/errors.py",
        '            "stack": "".join(traceback.format_tb(error.__traceback__)),\n',
        '            "stack": "".join(traceback.format_exception(error)),\n',
        ("tests/db/test_database_faults.py", "-k", "does_not_quote"),
    ),
    Mutation(
        "a deleted task's stored response kept",
        f"{APP}/tasks/router.py",
        "    await idempotency.forget_task(connection, user_id=user_id, task_id=str(task_id))\n",
        "",
        ("tests/reliability/test_idempotency.py", "-k", "drops_its_stored_body"),
    ),
    Mutation(
        "expired idempotency keys never purged at start-up",
        f"{APP}/main.py",
        "async with sessions, verifier, IdempotencyPurge(database):",
        "async with sessions, verifier:",
        ("tests/reliability/test_idempotency.py", "-k", "purges_expired_keys_at_start_up"),
    ),
    Mutation(
        "Swagger UI from a CDN",
        f"{APP}/main.py",
        "    app = FastAPIOffline(\n",
        "    app = FastAPI(\n",
        ("tests/test_docs.py", "-k", "assets_from_the_api"),
    ),
)
MUTATIONS = VERIFIER_AND_DATABASE + EXTRA

# Left out, with the check that makes each one unobservable when switched off alone.
REDUNDANT_BY_DESIGN = {
    "a JWK's kty": "the configured algorithm's own PyJWT loader (OKP, EC or RSA) refuses a "
    "JWK of another kty; the explicit check stays as the first lock (switching the curve "
    "check off instead is killed above, by a real Ed448 key)",
    "PyJWT's algorithms=[configured]": "token_shape pins alg before PyJWT runs; the list is the "
    "second lock (switching the header check off instead is killed above)",
    "JWKS declared Content-Length cap": "an early exit: the streaming cap refuses the same body "
    "after 64 KiB (switching the streaming cap off is killed above)",
    "flush on listener reconnect": "the listener's finally block already flushed when it "
    "disconnected, and remember() refuses entries while it is not listening",
}


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # killed, SURVIVED, ERROR
    detail: str
    seconds: float


def make_copy(destination: Path) -> Path:
    for part in COPIED:
        shutil.copytree(ROOT / part, destination / part, ignore=COPY_IGNORE)
    return destination


def environment(copy: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    sources = [str(copy / part / "src") for part in COPIED]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sources),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def assert_copy_is_imported(copy: Path) -> None:
    """Both the package and the tests must come from the copy, or nothing here means anything."""
    modules = ("tandem_auth.verifier", "tandem.db", "tandem_stack.postgres", "tests.conftest")
    probe = f"import {', '.join(modules)}; " + "; ".join(f"print({m}.__file__)" for m in modules)
    result = subprocess.run(  # noqa: S603  # this interpreter, fixed arguments
        [sys.executable, "-c", probe],
        cwd=copy / "backend",
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stdout.split():
        if not Path(line).resolve().is_relative_to(copy.resolve()):
            raise SystemExit(f"the copy is not what runs: {line} is outside {copy}")


def run_tests(copy: Path, arguments: tuple[str, ...]) -> tuple[int, str]:
    command = [
        sys.executable, "-m", "pytest", "-x", "-q", "-rf", "--no-header",
        "-p", "no:cacheprovider", *arguments,
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603  # this interpreter, our own arguments
        command,
        cwd=copy / "backend",
        env=environment(copy),
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _last_error(output: str) -> str:
    errors = re.findall(r"^ERROR (.+?)(?: - .*)?$", output, re.MULTILINE)
    return f"set-up error in {errors[-1]}" if errors else "pytest exited 1 without a FAILED test"


def first_failure(output: str) -> str:
    match = re.search(r"^FAILED (.+?)(?: - .*)?$", output, re.MULTILINE)
    return match.group(1) if match else "(no FAILED line)"


def apply(copy: Path, mutation: Mutation) -> str:
    target = copy / mutation.path
    source = target.read_text(encoding="utf-8")  # the copy's, consistent with the rest of it
    count = source.count(mutation.original)
    if count != 1:
        raise ValueError(f"the original snippet occurs {count} times in {mutation.path}")
    target.write_text(source.replace(mutation.original, mutation.replacement), encoding="utf-8")
    return source


def check(copy: Path, mutation: Mutation) -> Outcome:
    started = time.monotonic()
    try:
        original = apply(copy, mutation)
    except ValueError as exc:
        return Outcome(mutation, "ERROR", str(exc), 0.0)
    try:
        code, output = run_tests(copy, mutation.tests)
    finally:
        (copy / mutation.path).write_text(original, encoding="utf-8")
    seconds = time.monotonic() - started
    if code == 1 and re.search(r"^FAILED ", output, re.MULTILINE):
        return Outcome(mutation, "killed", first_failure(output), seconds)
    if code == 1:  # errors in set-up or teardown, not an assertion: it proves nothing
        return Outcome(mutation, "ERROR", _last_error(output), seconds)
    if code == 0:
        return Outcome(mutation, "SURVIVED", "every selected test passed", seconds)
    tail = output.strip().splitlines()[-1:] or ["no output"]
    return Outcome(mutation, "ERROR", f"pytest exited {code}: {tail[0]}", seconds)


def baseline(copy: Path, mutations: list[Mutation]) -> None:
    """Unmutated, every selected test module passes: a kill then means the mutation did it."""
    modules = sorted({arg for m in mutations for arg in m.tests[: m.tests.index("-k")]})
    code, output = run_tests(copy, tuple(modules))
    if code != 0:
        sys.stderr.write(output[-3000:])
        raise SystemExit(f"the unmutated copy fails its own tests (pytest exited {code})")


def table(outcomes: list[Outcome]) -> str:
    rows = ["| mutation | file | result | first failing test |", "|---|---|---|---|"]
    for outcome in outcomes:
        file = outcome.mutation.path.removeprefix(f"{APP}/")
        rows.append(f"| {outcome.mutation.name} | {file} | {outcome.status} | `{outcome.detail}` |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only mutations whose name contains these")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    options = parser.parse_args()
    selected = [
        m for m in MUTATIONS if not options.names or any(n in m.name for n in options.names)
    ]
    with tempfile.TemporaryDirectory(prefix="tandem-mutation-") as scratch:
        copy = make_copy(Path(scratch))
        assert_copy_is_imported(copy)
        if not options.no_baseline:
            sys.stdout.write("baseline: the selected test modules, unmutated\n")
            baseline(copy, selected)
        outcomes = []
        for number, mutation in enumerate(selected, 1):
            outcome = check(copy, mutation)
            sys.stdout.write(
                f"[{number}/{len(selected)}] {outcome.status:8} {mutation.name} "
                f"({outcome.seconds:.0f} s) {outcome.detail}\n"
            )
            sys.stdout.flush()
            outcomes.append(outcome)
    sys.stdout.write("\n" + table(outcomes) + "\n\nLeft out, redundant by design:\n")
    for check_name, reason in REDUNDANT_BY_DESIGN.items():
        sys.stdout.write(f"- {check_name}: {reason}\n")
    failed = [o for o in outcomes if o.status != "killed"]
    sys.stdout.write(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} mutations killed\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
