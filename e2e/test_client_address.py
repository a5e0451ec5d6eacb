"""The client address both limiters count (issue 12, finding 2).

Next.js vouches for one address per request (frontend/src/lib/server/client-address.ts): the
TCP peer, or, when the peer is a hop in TRUSTED_PROXIES, what that hop forwarded, read from
the right. Better Auth's limiter keys on it, and the task proxy sends FastAPI exactly that one
address. The suite's children trust 127.0.0.1 (tandem_stack.config), so a client connecting
from 127.0.0.1 plays the reverse proxy; one connecting from another loopback address
(127.0.0.2, ...) is a browser that reached Next.js directly, and its X-Forwarded-For must
change nothing.
"""

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from support.http import TRUSTED_HOP, client, distinct_address, same_origin, sign_up
from support.paths import FRONTEND
from support.stack import Pair, Stack
from support.users import new_user

# Browsers that connect to Next.js directly, each from an address of its own.
BROWSER = "127.0.0.2"
OTHER_BROWSER = "127.0.0.3"
GUESSER = "127.0.0.4"
# A small per-address (and per-user) API limit on a pair of its own: frontend/src/lib/auth.ts
# and the API's RATE_LIMIT_API keep the main pair's limits out of reach of a test.
API_LIMIT = 4
# frontend/src/lib/auth.ts: rateLimit.customRules
SIGN_IN = "/sign-in/email"
SIGN_IN_LIMIT = 10


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[Pair]:
    """A pair whose API allows API_LIMIT requests an hour per address and per user."""
    extra = {"RATE_LIMIT_API": f"{API_LIMIT}/hour"}
    pair = stack.start_pair("-xff", algorithm="EdDSA", extra=extra)
    yield pair
    stack.stop(pair.api)
    stack.stop(pair.web)


def _tasks(web: httpx.Client, pair: Pair, forwarded_for: str | None = None) -> httpx.Response:
    headers = same_origin(pair) | ({"X-Forwarded-For": forwarded_for} if forwarded_for else {})
    return web.get("/api/tasks", headers=headers)


def _assert_api_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_a_browsers_forwarded_for_does_not_change_the_address_the_api_counts(
    limited: Pair,
) -> None:
    with (
        client(limited.web_url, source=BROWSER) as first,
        client(limited.web_url, source=BROWSER) as second,
    ):
        # Two people behind one address, so that the per-user limit is not what stops them.
        sign_up(first, limited, new_user("Rosa Address"))
        sign_up(second, limited, new_user("Yusuf Address"))
        # Each request names a new address of its own choosing: the API counts the connection's.
        statuses = [
            _tasks((first, second)[n % 2], limited, forwarded_for=distinct_address()).status_code
            for n in range(API_LIMIT)
        ]
        assert statuses == [200] * API_LIMIT
        _assert_api_limited(_tasks(first, limited, forwarded_for=distinct_address()))

        # Another address is unaffected: the same person, through the trusted hop, which the web
        # app believes when it says whom it forwards for ...
        with client(limited.web_url, forwarded_for=distinct_address()) as hop:
            hop.cookies = first.cookies
            assert _tasks(hop, limited).status_code == 200
        # ... and from another browser's own address.
        with client(limited.web_url, source=OTHER_BROWSER) as elsewhere:
            elsewhere.cookies = second.cookies
            assert _tasks(elsewhere, limited, forwarded_for=BROWSER).status_code == 200
        # The first address is still refused, whatever it claims.
        _assert_api_limited(_tasks(second, limited, forwarded_for=TRUSTED_HOP))


def _sign_in(web: httpx.Client, app: Pair, email: str, password: str) -> httpx.Response:
    body = {"email": email, "password": password}
    return web.post(f"/api/auth{SIGN_IN}", json=body, headers={"Origin": app.origin})


def _counter(stack: Stack, address: str, path: str) -> str:
    query = """SELECT count FROM "rateLimit" WHERE key = :'key'"""
    return stack.sql(query, key=f"{address}|{path}").strip()


def test_rotating_forwarded_for_does_not_dodge_better_auths_sign_in_limit(
    stack: Stack, app: Pair
) -> None:
    guess = new_user("Mallory Rotates")
    with client(app.web_url, source=GUESSER) as web:
        for attempt in range(SIGN_IN_LIMIT):
            web.headers["X-Forwarded-For"] = distinct_address()
            response = _sign_in(web, app, guess.email, guess.password)
            assert response.status_code == 401, (attempt, response.text)
        web.headers["X-Forwarded-For"] = distinct_address()
        refused = _sign_in(web, app, guess.email, guess.password)
        assert refused.status_code == 429, refused.text
    # One counter, for the address the attempts really came from.
    assert _counter(stack, GUESSER, SIGN_IN) == str(SIGN_IN_LIMIT)


def test_better_auth_believes_the_trusted_hop_read_from_the_right(stack: Stack, app: Pair) -> None:
    """A reverse proxy that appends (nginx's $proxy_add_x_forwarded_for) sends what the client
    claimed, then the address it saw: the rightmost untrusted entry is the client."""
    claimed, seen = distinct_address(), distinct_address()
    guess = new_user("Mallory Chains")
    with client(app.web_url, forwarded_for=f"{claimed}, {seen}") as web:
        assert _sign_in(web, app, guess.email, guess.password).status_code == 401
    assert _counter(stack, seen, SIGN_IN) == "1"
    assert _counter(stack, claimed, SIGN_IN) == ""
    assert _counter(stack, "no-trusted-ip", SIGN_IN) == ""


# The rules themselves, on the module the hook runs (vouchedAddress and trustedHops).
_RULES = """
import { trustedHops, vouchedAddress } from "./src/lib/server/client-address.ts";
const { cases, bad } = JSON.parse(process.argv[1]);
const results = cases.map(([trusted, forwardedFor, peer]) =>
  vouchedAddress(forwardedFor ?? undefined, peer ?? undefined, trustedHops(trusted)));
const refused = bad.map((entry) => {
  try { trustedHops([entry]); return false; } catch { return true; }
});
console.log(JSON.stringify({ results, refused }));
"""
_HOPS = ["127.0.0.1", "10.0.0.0/24", "::1"]
_CASES = [
    # (TRUSTED_PROXIES, X-Forwarded-For, peer) -> the address vouched for
    ((_HOPS, None, "198.51.100.1"), "198.51.100.1"),
    ((_HOPS, "203.0.113.5", "198.51.100.1"), "198.51.100.1"),  # an untrusted peer's claim
    ((_HOPS, "203.0.113.5", "127.0.0.1"), "203.0.113.5"),
    ((_HOPS, "203.0.113.5, 198.51.100.7", "10.0.0.3"), "198.51.100.7"),  # from the right
    ((_HOPS, "203.0.113.5,10.0.0.9", "127.0.0.1"), "203.0.113.5"),  # two trusted hops
    ((_HOPS, "203.0.113.5, not-an-address, 10.0.0.9", "127.0.0.1"), "10.0.0.9"),
    ((_HOPS, "203.0.113.5:443", "127.0.0.1"), "127.0.0.1"),  # a port: not an address
    ((_HOPS, "10.0.0.7", "127.0.0.1"), "10.0.0.7"),  # every hop trusted: the leftmost
    ((_HOPS, None, "::ffff:127.0.0.1"), "127.0.0.1"),  # IPv4-mapped, as Node may report it
    ((_HOPS, None, "::ffff:198.51.100.1"), "198.51.100.1"),
    ((_HOPS, "2001:db8::1", "::1"), "2001:db8::1"),
    ((_HOPS, ", ,203.0.113.5, ", "127.0.0.1"), "203.0.113.5"),
    ((_HOPS, "203.0.113.5", None), None),  # no peer: nothing to vouch for
    (([], "203.0.113.5", "127.0.0.1"), "127.0.0.1"),  # the default: no hop is trusted
]
_BAD_ENTRIES = ["abc", "10.0.0.0/33", "10.0.0.1/8/9", "1.2.3.4/", "::1/129", "10.0.0.0/-1"]


def test_the_rules_for_the_vouched_address() -> None:
    arguments = {"cases": [case for case, _ in _CASES], "bad": _BAD_ENTRIES}
    result = subprocess.run(
        [str(FRONTEND / "node_modules" / ".bin" / "tsx"), "-e", _RULES, json.dumps(arguments)],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["results"] == [expected for _, expected in _CASES]
    assert answer["refused"] == [True] * len(_BAD_ENTRIES)
