"""On https, the session cookie is Secure and carries the `__Secure-` prefix.

The suite serves plain http, where browsers would drop a Secure cookie. A
second Next.js server on the same build and database is told its public URL
is https (as behind a TLS-terminating proxy); its Set-Cookie must then use
the prefixed, Secure, HttpOnly, SameSite=Lax session cookie.
"""

from collections.abc import Iterator

import pytest

from support import sensitive
from support.http import client, distinct_address
from support.stack import Pair, Stack
from support.users import new_user

PUBLIC_ORIGIN = "https://tandem.example"


@pytest.fixture
def https_web(stack: Stack, app: Pair) -> Iterator[str]:
    url = stack.start_web("web-https", like=app, env={"BETTER_AUTH_URL": PUBLIC_ORIGIN})
    yield url
    stack.stop("web-https")


def test_https_sessions_use_a_secure_prefixed_cookie(https_web: str) -> None:
    user = new_user("Sam Secure")
    body = {"name": user.name, "email": user.email, "password": user.password}
    with client(https_web, forwarded_for=distinct_address()) as web:
        response = web.post("/api/auth/sign-up/email", json=body, headers={"Origin": PUBLIC_ORIGIN})

    assert response.status_code == 200, response.text
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if "session_token=" in c]
    assert len(session) == 1, cookies
    name, _, rest = session[0].partition("=")
    sensitive.remember_cookie(name, rest.split(";", 1)[0])
    attributes = {part.strip().lower() for part in rest.split(";")[1:]}
    assert name == "__Secure-better-auth.session_token"
    assert {"secure", "httponly", "samesite=lax"} <= attributes
