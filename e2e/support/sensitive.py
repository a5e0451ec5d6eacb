"""What must never reach a log: every test user's email and password, and every session cookie
and JWT the suite handled. Collected during the run (users when they are made, cookies and
tokens where the suite receives them); test_zz_log_scan.py looks for each in every log line.
"""

from collections.abc import Iterable, Mapping
from urllib.parse import unquote

# Shorter values could match by chance; every real one is far longer.
_MIN_LENGTH = 12
_values: dict[str, str] = {}


def remember(kind: str, value: str) -> None:
    if len(value) >= _MIN_LENGTH:
        _values.setdefault(value, kind)


def remember_cookie(name: str, value: str) -> None:
    """A cookie, as sent, decoded, and (for Better Auth's signed cookies) its token part."""
    for form in {value, unquote(value)}:
        remember(f"cookie {name}", form)
        token, dot, _signature = form.partition(".")
        if dot:
            remember(f"cookie {name} (token part)", token)


def remember_cookies(cookies: Iterable[Mapping[str, object]]) -> None:
    """Cookies as Playwright lists them (`context.cookies()`, a storage state's `cookies`)."""
    for cookie in cookies:
        name, value = cookie.get("name"), cookie.get("value")
        if isinstance(name, str) and isinstance(value, str):
            remember_cookie(name, value)


def remembered() -> dict[str, str]:
    """Every value so far, with what it is."""
    return dict(_values)
