"""The repository's `.env`: loaded beneath the real environment, with a generated auth secret.

The format is the common subset: `KEY=VALUE` lines, an optional `export ` prefix, `#`
comments, and values in single quotes (literal) or double quotes (`\\n`, `\\t`, `\\"` and
`\\\\` escapes). A value spans one line.
"""

import logging
import os
import re
import secrets
import stat
from collections.abc import MutableMapping
from pathlib import Path

SECRET_NAME = "BETTER_AUTH_SECRET"  # noqa: S105 (the variable's name, not a secret)

log = logging.getLogger(__name__)

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _double_quoted(body: str) -> str | None:
    """The value of `"..."` at the start of `body` (quote excluded), or None if unclosed."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == '"':
            return "".join(out)
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return None


def _value(raw: str) -> str | None:
    raw = raw.strip()
    if raw.startswith('"'):
        return _double_quoted(raw[1:])
    if raw.startswith("'"):
        end = raw.find("'", 1)
        return raw[1:end] if end > 0 else None
    # An unquoted value ends at a comment that follows whitespace, so `a#b` keeps its `#`.
    return re.split(r"\s#", raw, maxsplit=1)[0].rstrip()


def parse_dotenv(text: str, *, source: str = ".env") -> dict[str, str]:
    """The variables in `.env` text; malformed lines are skipped with a warning."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").lstrip()
        key, sep, rest = stripped.partition("=")
        key = key.strip()
        value = _value(rest) if sep else None
        if not _KEY.fullmatch(key) or value is None:
            # The line may hold a secret, so only its number is logged.
            log.warning("ignoring malformed line %d of %s", number, source)
            continue
        values[key] = value
    return values


def load_dotenv(path: Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the file's variables that the environment does not already have; returns their names."""
    env = os.environ if environ is None else environ
    if not path.is_file():
        return []
    loaded = []
    for key, value in parse_dotenv(path.read_text(encoding="utf-8"), source=str(path)).items():
        if key not in env:
            env[key] = value
            loaded.append(key)
    return loaded


def restrict_to_owner(path: Path) -> None:
    """Take group's and others' permissions off `path` (0644 becomes 0600), if it exists.

    `.env` holds secrets: the generated BETTER_AUTH_SECRET, and whatever the operator
    added. A file made by an older runner or by hand may be readable by everyone.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        path.chmod(mode & 0o700)
    except PermissionError:
        log.warning("%s is mode %04o and not ours to change; make it 0600", path, mode)
        return
    log.info("%s was mode %04o; it is now %04o", path, mode, mode & 0o700)


def ensure_auth_secret(path: Path, environ: MutableMapping[str, str] | None = None) -> bool:
    """Append a generated BETTER_AUTH_SECRET to `.env` unless it or the environment has one.

    Returns True when a secret was generated. A new `.env` is created with mode 0600, and
    an existing one loses any permission for group and others.
    """
    env = os.environ if environ is None else environ
    restrict_to_owner(path)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    if env.get(SECRET_NAME) or parse_dotenv(existing, source=str(path)).get(SECRET_NAME):
        return False
    separator = "" if not existing or existing.endswith("\n") else "\n"
    line = f"{separator}{SECRET_NAME}={secrets.token_urlsafe(48)}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(line)
    log.info("generated %s into %s", SECRET_NAME, path)
    return True
