"""On https, the session cookie is Secure and carries the `__Secure-` prefix, and every
response carries HSTS.

The suite serves plain http, where browsers would drop a Secure cookie. A
second Next.js server on the same build and database is told its public URL
is https (as behind a TLS-terminating proxy); its Set-Cookie must then use
the prefixed, Secure, HttpOnly, SameSite=Lax session cookie, and each of its
answers, pages and API routes alike, `Strict-Transport-Security` for a year
or more. The main server, whose URL is http, sends no HSTS.
"""

from collections.abc import Iterator

import httpx
import pytest

from support import sensitive
from support.http import client, distinct_address, follow_verification, request_sign_up
from support.mail import verification_link
from support.stack import Pair, Stack
from support.users import new_user

PUBLIC_ORIGIN = "https://tandem.example"


@pytest.fixture(scope="module")
def https_web(stack: Stack, app: Pair) -> Iterator[str]:
    url = stack.start_web("web-https", like=app, env={"BETTER_AUTH_URL": PUBLIC_ORIGIN})
    yield url
    stack.stop("web-https")


def test_https_sessions_use_a_secure_prefixed_cookie(https_web: str) -> None:
    user = new_user("Sam Secure")
    with client(https_web, forwarded_for=distinct_address()) as web:
        assert request_sign_up(web, PUBLIC_ORIGIN, user).status_code == 200
        # The session starts when the mailed link is opened (on https, with Secure cookies).
        response = follow_verification(web, verification_link(user.email))

    assert response.status_code == 302, response.text
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if "session_token=" in c]
    assert len(session) == 1, cookies
    name, _, rest = session[0].partition("=")
    sensitive.remember_cookie(name, rest.split(";", 1)[0])
    attributes = {part.strip().lower() for part in rest.split(";")[1:]}
    assert name == "__Secure-better-auth.session_token"
    assert {"secure", "httponly", "samesite=lax"} <= attributes


HSTS = "max-age=31536000; includeSubDomains"
# Pages (a public one, and the redirect src/proxy.ts answers for a protected one), Better Auth's
# routes (a GET, and a refused sign-in) and the task proxy (refused without a session).
_RESPONSES = [
    ("GET", "/sign-in", None, 200),
    ("GET", "/tasks", None, 307),
    ("GET", "/api/auth/ok", None, 200),
    ("POST", "/api/auth/sign-in/email", {"email": "nobody@example.com", "password": "x" * 12}, 401),
    ("GET", "/api/tasks", None, 401),
]


def _responses(base_url: str, origin: str) -> list[httpx.Response]:
    with client(base_url, forwarded_for=distinct_address()) as web:
        answered = [
            web.request(method, path, json=body, headers={"Origin": origin})
            for method, path, body, _ in _RESPONSES
        ]
    for response, (_, path, _, status) in zip(answered, _RESPONSES, strict=True):
        assert response.status_code == status, (path, response.text[:200])
    return answered


def test_https_responses_carry_hsts(https_web: str) -> None:
    for response in _responses(https_web, PUBLIC_ORIGIN):
        assert response.headers.get("Strict-Transport-Security") == HSTS, response.url
    max_age = int(HSTS.split(";")[0].removeprefix("max-age="))
    assert max_age >= 365 * 24 * 3600


def test_http_responses_carry_no_hsts(app: Pair) -> None:
    for response in _responses(app.web_url, app.origin):
        assert "Strict-Transport-Security" not in response.headers, response.url
