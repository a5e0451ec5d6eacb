"""Scale-out (issue 15) on the real topology: `python -m tandem_stack cluster` with two web and
two API instances behind HAProxy, on one embedded PostgreSQL and one embedded Redis.

Every figure the issue asks for is printed (run with -s to see them, or read the report
lines pytest shows with -rA): revocation time on each instance, failover time, writes
acknowledged and found, and the PostgreSQL connection count under load.
"""

import contextlib
import itertools
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from tandem_stack.api import uvicorn_args
from tandem_stack.paths import RepoPaths
from tandem_stack.processes import Child, group_members
from tandem_stack.readiness import http_ok, port_in_use
from tandem_stack.throwaway import free_port
from tandem_stack.web import next_argv

from support import sensitive
from support.cluster import RATE_LIMIT, SIZE, Cluster, interrupt, running_cluster
from support.http import (
    SESSION_COOKIE,
    bearer,
    client,
    follow_verification,
    jwt_claims,
    jwt_header,
    remember_session,
    request_sign_up,
)
from support.mail import verification_link
from support.paths import BACKEND, FRONTEND, LOGS, ROOT
from support.stack import HOST, Stack, _base_env
from support.users import User, new_user

ME = "/api/me"
# The bounds.
REVOCATION_BOUND_SECONDS = 0.100
FAILOVER_BOUND_SECONDS = 2.0
CONNECTION_BUDGET = 60
# Each test's clients connect from loopback addresses of their own (127.0.0.0/8 is all local),
# so the per-address limits of one test never reach another's.
_SOURCES = (f"127.0.{n // 250 + 1}.{n % 250 + 2}" for n in itertools.count())


_OPEN: list[httpx.Client] = []


def source() -> str:
    return next(_SOURCES)


def opened(http: httpx.Client) -> httpx.Client:
    """Closed after the test (an unclosed client's sockets would warn)."""
    _OPEN.append(http)
    return http


def report(message: str) -> None:
    """A measured figure, for the closing note."""
    print(f"[cluster] {message}")  # noqa: T201 (the figures are the point)


@pytest.fixture(scope="module")
def cluster(stack: Stack) -> Iterator[Cluster]:
    """After the suite's stack, which empties artifacts/logs/ as it starts: the cluster's log
    must survive until test_zz_log_scan.py reads it."""
    with running_cluster(smtp_url=stack.smtp_url) as running:
        yield running


@pytest.fixture(autouse=True)
def _stack_alive(cluster: Cluster) -> Iterator[None]:
    """This module's stack is the cluster (it replaces conftest's fixture of the same name)."""
    cluster.check_alive()
    yield
    while _OPEN:
        _OPEN.pop().close()


# -- people and requests ----------------------------------------------------------------------


@dataclass
class Person:
    user: User
    web: httpx.Client
    """Signed in; its cookie jar holds the session."""
    token: str
    sub: str

    @property
    def tasks(self) -> str:
        return f"/api/{self.sub}/tasks"


def sign_up_on(cluster: Cluster, base_url: str, name: str) -> Person:
    """Sign up on the web server at `base_url` and open the mailed link there, which verifies
    the address and signs the person in."""
    web = opened(client(base_url, source=source()))
    return _verified(cluster, web, new_user(name))


def _verified(cluster: Cluster, web: httpx.Client, user: User) -> Person:
    response = request_sign_up(web, cluster.origin, user)
    assert response.status_code == 200, response.text
    verified = follow_verification(web, verification_link(user.email))
    assert verified.status_code == 302, verified.text
    remember_session(web)
    token = web.get("/api/auth/token").json()["token"]
    sensitive.remember("JWT", token)
    return Person(user, web, token, jwt_claims(token)["sub"])


def api_client(base_url: str) -> httpx.Client:
    return opened(client(base_url, source=source()))


@dataclass
class Load:
    """`call` made over and over by `threads` threads until `stop`: every outcome, timed."""

    call: Callable[[int], httpx.Response]
    threads: int = 2
    pause: float = 0.0
    outcomes: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Load":
        for number in range(self.threads):
            worker = threading.Thread(target=self._run, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self, number: int) -> None:
        while not self._stop.is_set():
            try:
                status = self.call(number).status_code
            except httpx.HTTPError:
                status = 0  # no answer at all: as much a failure as a 5xx
            self.outcomes.append((time.monotonic(), status))
            self._stop.wait(self.pause)

    def stop(self) -> list[int]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        return [status for _, status in self.outcomes]


def failures(statuses: list[int]) -> list[int]:
    return [status for status in statuses if status == 0 or status >= 500]


# -- sessions across instances ----------------------------------------------------------------


def test_a_cookie_from_web_1_works_on_web_2_directly_and_through_the_load_balancer(
    cluster: Cluster,
) -> None:
    person = sign_up_on(cluster, cluster.web_urls[0], "Ines Cluster")
    cookie = person.web.cookies.get(SESSION_COOKIE)
    assert cookie
    for url in (cluster.web_urls[1], cluster.web_url):
        with client(url, source=source()) as other:
            other.cookies.set(SESSION_COOKIE, cookie)
            session = other.get("/api/auth/get-session")
            assert session.status_code == 200, session.text
            assert session.json()["user"]["id"] == person.sub
            # The proxy on that instance turns the cookie into a JWT and reaches the API
            # through the load balancer.
            tasks = other.get("/api/tasks", headers={"Sec-Fetch-Site": "same-origin"})
            assert tasks.status_code == 200, tasks.text
            assert tasks.json()["items"] == []


def test_sign_out_on_web_1_reaches_every_api_instance_within_100_ms(cluster: Cluster) -> None:
    person = sign_up_on(cluster, cluster.web_urls[0], "Noor Revoke")
    routes = (ME, person.tasks)
    apis = [api_client(url) for url in cluster.api_urls]
    for api in apis:
        for route in routes:
            # Warm: /api/me now answers from the live-session cache of each instance.
            assert api.get(route, headers=bearer(person.token)).status_code == 200

    refused_after: dict[tuple[str, str], float] = {}
    signed_out = threading.Event()
    signed_out_at: list[float] = []

    def poll(api: httpx.Client, route: str) -> None:
        # A connection of its own per poller, opened before the sign-out. The figure is when
        # the first refused request was sent: every request sent from then on is refused too.
        while not signed_out.is_set():
            time.sleep(0.001)
        while True:
            sent = time.monotonic()
            status = api.get(route, headers=bearer(person.token)).status_code
            if status != 200 or sent - signed_out_at[0] > 5:
                break
        assert status == 401
        refused_after[(str(api.base_url), route)] = max(0.0, sent - signed_out_at[0])

    pollers = [api_client(url) for url in cluster.api_urls for _ in routes]
    with ThreadPoolExecutor(len(pollers)) as pool:
        futures = [
            pool.submit(poll, poller, route)
            for poller, route in zip(
                pollers, [r for _ in cluster.api_urls for r in routes], strict=True
            )
        ]
        response = person.web.post(
            "/api/auth/sign-out", content=b"{}",
            headers={"Origin": cluster.origin, "Content-Type": "application/json"},
        )  # fmt: skip
        signed_out_at.append(time.monotonic())
        signed_out.set()
        assert response.status_code == 200, response.text
        for future in futures:
            future.result()
    for (url, route), seconds in sorted(refused_after.items()):
        report(f"revocation: {url}{route.replace(person.sub, '{user}')} refused after "
               f"{seconds * 1000:.1f} ms")  # fmt: skip
    assert len(refused_after) == SIZE * len(routes)
    assert max(refused_after.values()) <= REVOCATION_BOUND_SECONDS, refused_after


# -- shared rate limits -----------------------------------------------------------------------


def _burst(person: Person, urls: list[str], count: int) -> list[tuple[str, int]]:
    """`count` requests as fast as one client goes, spread over `urls` in turn, each from two
    source addresses in turn (so that only the per-user limit can stop them)."""
    apis = [api_client(url) for url in urls for _ in range(2)]
    time.sleep(1.1)  # a fresh one-second window for this user
    seen = []
    for number in range(count):
        api = apis[number % len(apis)]
        seen.append((str(api.base_url), api.get(ME, headers=bearer(person.token)).status_code))
    return seen


def test_a_forged_forwarded_address_is_ignored_through_the_load_balancer(cluster: Cluster) -> None:
    """The security issue's forwarded-address rules, one hop more: HAProxy appends the address
    it sees, the web instances and the API read from the right past their trusted hop, so what
    Better Auth records and what the API counts is the client's connection, never the
    X-Forwarded-For it sent."""
    address = source()
    forged = (f"203.0.113.{n}" for n in itertools.count(1))
    # Every request of this client (sign-up, mailed link) claims another address.
    web = opened(client(cluster.web_url, source=address, forwarded_for=next(forged)))
    sub = _verified(cluster, web, new_user("Forwarded Address")).sub
    assert re.fullmatch(r"[A-Za-z0-9_-]+", sub)  # an id Better Auth made: safe in the SQL below
    recorded = cluster.sql(
        f"""SELECT DISTINCT "ipAddress" FROM session WHERE "userId" = '{sub}'"""  # noqa: S608
    )
    assert recorded.strip() == address

    # Refused tokens count against their address only: a forged address on each request would
    # give each a fresh budget if the API believed it. Two windows' worth, sent at once, must
    # overflow at least one of the (shared) one-second windows.
    api = opened(client(cluster.api_url, source=address))
    calls = 2 * RATE_LIMIT + 2
    spoofed = [
        {"Authorization": "Bearer not-a-token", "X-Forwarded-For": next(forged)}
        for _ in range(calls)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda h: api.get(ME, headers=h).status_code, spoofed))
    assert set(statuses) <= {401, 429}
    assert 429 in statuses
    # Another address still has its own budget.
    other = opened(client(cluster.api_url, source=source()))
    assert other.get(ME, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    report(f"forged X-Forwarded-For through HAProxy: session recorded {address}; "
           f"{statuses.count(429)} of {calls} spoofed requests got 429")  # fmt: skip


def test_the_per_user_limit_is_shared_through_redis(cluster: Cluster) -> None:
    person = sign_up_on(cluster, cluster.web_url, "Lena Shared")
    seen = _burst(person, cluster.api_urls, RATE_LIMIT + 1)
    statuses = [status for _, status in seen]
    assert statuses[:RATE_LIMIT] == [200] * RATE_LIMIT
    assert statuses[RATE_LIMIT] == 429
    # Whichever instance serves the next one refuses it too.
    for url in cluster.api_urls:
        assert api_client(url).get(ME, headers=bearer(person.token)).status_code == 429
    report(f"shared limit: {RATE_LIMIT}/s per user; request {RATE_LIMIT + 1} got 429 "
           f"over {SIZE} instances")  # fmt: skip


def test_control_per_process_counters_let_about_n_times_the_limit_through(
    cluster: Cluster,
) -> None:
    """The same instances' settings with memory storage, on two more API processes: each counts
    alone, so the user gets about SIZE times the limit. The shared test above can fail."""
    person = sign_up_on(cluster, cluster.web_url, "Omar Control")
    env = cluster.environ("api-1") | {"RATE_LIMIT_STORAGE_URL": "memory://"}
    for name in ("REDIS_URL", "METRICS_PORT"):
        env.pop(name, None)
    with memory_instances(env, SIZE) as urls:
        seen = _burst(person, urls, SIZE * RATE_LIMIT + 2)
    allowed = sum(status == 200 for _, status in seen)
    report(f"control (memory storage, {SIZE} instances): {allowed} of {len(seen)} allowed "
           f"for a limit of {RATE_LIMIT}")  # fmt: skip
    assert allowed == SIZE * RATE_LIMIT


@contextlib.contextmanager
def memory_instances(env: dict[str, str], count: int) -> Iterator[list[str]]:
    children = []
    log = (LOGS / "cluster-control.log").open("ab")
    try:
        for number in range(count):
            port = free_port()
            child = Child(
                f"api-memory-{number}",
                RepoPaths(ROOT).backend_command(*uvicorn_args(port)),
                cwd=ROOT, env=env | {"API_PORT": str(port)},
                output=log,
            )  # fmt: skip
            child.start()
            children.append((child, f"http://{HOST}:{port}"))
        _wait_until_ready(children, "/ready", "a control API instance")
        yield [url for _, url in children]
    finally:
        for child, _ in children:
            child.stop()
        log.close()


def _wait_until_ready(children: list[tuple[Child, str]], path: str, what: str) -> None:
    """Each child answers 200 at `path` on its base URL within 90 s, or the test fails."""
    for child, base in children:
        deadline = time.monotonic() + 90
        while not http_ok(f"{base}{path}", timeout=2):
            assert child.alive(), f"{what} exited"
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.2)


def _events(name: str, event: str, *, after: int) -> int:
    text = (LOGS / "cluster.log").read_text(encoding="utf-8", errors="replace")[after:]
    # Each line as the runner relays it ([name]), behind the suite's own prefix ([cluster]).
    return sum(1 for line in text.splitlines() if line.startswith(f"[cluster] [{name}] ") and
               f'"event":"{event}"' in line)  # fmt: skip


def test_redis_stopped_and_restarted_under_load_fails_nothing_and_shares_limits_again(
    cluster: Cluster,
) -> None:
    people = [sign_up_on(cluster, cluster.web_url, f"Redis Load {n}") for n in range(2)]
    apis = [api_client(cluster.api_url) for _ in people]
    load = Load(
        lambda n: apis[n].get(people[n].tasks, headers=bearer(people[n].token)),
        threads=len(people), pause=0.05,
    ).start()  # fmt: skip
    log_mark = (LOGS / "cluster.log").stat().st_size
    time.sleep(1.0)
    cluster.signal("redis", signal.SIGKILL)  # the runner starts it again after its backoff
    killed = time.monotonic()
    deadline = killed + 30
    # Back to shared counting on every instance, by itself.
    while not all(
        api_client(url).get("/ready").json().get("rate_limits") == "shared"
        and _events(f"api-{i}", "rate_limit.recovered", after=log_mark) > 0
        for i, url in enumerate(cluster.api_urls, start=1)
    ):
        assert time.monotonic() < deadline, "the API did not return to Redis"
        time.sleep(0.2)
    report(f"redis: killed, restarted by the runner, shared again after "
           f"{time.monotonic() - killed:.1f} s")  # fmt: skip
    time.sleep(0.5)
    statuses = load.stop()
    assert failures(statuses) == []
    assert set(statuses) == {200}
    for i in range(1, SIZE + 1):
        # The load reached every instance during the outage: each noticed it once.
        assert _events(f"api-{i}", "rate_limit.degraded", after=log_mark) == 1
    report(f"redis outage: {len(statuses)} requests under load, none failed")
    seen = _burst(people[0], cluster.api_urls, RATE_LIMIT + 1)
    assert [status for _, status in seen][RATE_LIMIT] == 429


# -- failures of an API instance --------------------------------------------------------------


@dataclass
class Writer:
    """Idempotent creates through the load balancer, as a careful client makes them: a request
    without an answer, or with a 5xx, is sent again with the same Idempotency-Key."""

    person: Person
    api: httpx.Client
    acknowledged: dict[str, str] = field(default_factory=dict)
    """Idempotency key → the id of the task the API acknowledged."""
    retries: int = 0

    def create(self, _thread: int) -> httpx.Response:
        key = uuid.uuid4().hex
        body = {"title": f"write {key}"}
        headers = bearer(self.person.token) | {"Idempotency-Key": key}
        for _attempt in range(10):
            try:
                response = self.api.post(self.person.tasks, json=body, headers=headers)
            except httpx.HTTPError:
                self.retries += 1
                continue
            if response.status_code < 500:
                break
            self.retries += 1
        else:
            return response
        if response.status_code == 201:
            self.acknowledged[key] = response.json()["id"]
        return response


def all_tasks(person: Person, api: httpx.Client) -> list[dict[str, str]]:
    tasks: list[dict[str, str]] = []
    cursor = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        page = api.get(person.tasks, params=params, headers=bearer(person.token)).json()
        tasks += page["items"]
        if not (cursor := page["next_cursor"]):
            return tasks


def _wait_state(
    cluster: Cluster, name: str, accept: Callable[[str], bool], timeout: float
) -> float:
    started = time.monotonic()
    while not accept(cluster.server_states().get(name, "")):
        assert time.monotonic() - started < timeout, cluster.server_states()
        time.sleep(0.02)
    return time.monotonic() - started


def test_kill_9_of_an_api_instance_under_idempotent_creates_loses_no_write(
    cluster: Cluster,
) -> None:
    writers = [
        Writer(
            sign_up_on(cluster, cluster.web_url, f"Kill Writer {n}"), api_client(cluster.api_url)
        )
        for n in range(3)
    ]
    load = Load(lambda n: writers[n].create(n), threads=len(writers), pause=0.05).start()
    time.sleep(1.5)
    cluster.signal("api-1", signal.SIGKILL)
    failover = _wait_state(cluster, "api-1", lambda state: state.startswith("DOWN"), 10)
    time.sleep(2.5)
    statuses = load.stop()
    acknowledged = sum(len(w.acknowledged) for w in writers)
    found = 0
    for writer in writers:
        tasks = all_tasks(writer.person, writer.api)
        ids = [task["id"] for task in tasks]
        titles = [task["title"] for task in tasks]
        for key, task_id in writer.acknowledged.items():
            assert ids.count(task_id) == 1, (
                f"acknowledged task {task_id} found {ids.count(task_id)} times"
            )
            assert titles.count(f"write {key}") == 1
        found += len(tasks)
    report(f"kill -9: HAProxy marked api-1 down {failover * 1000:.0f} ms after the kill; "
           f"{acknowledged} writes acknowledged, {found} found, each exactly once; "
           f"{sum(w.retries for w in writers)} client retries")  # fmt: skip
    assert failover <= FAILOVER_BOUND_SECONDS
    assert failures(statuses) == []
    assert acknowledged == found
    assert acknowledged > 0
    restarted = cluster.wait_until_up("api-1")
    report(
        f"kill -9: the runner restarted api-1; UP again {restarted:.1f} s after it was marked down"
    )


def test_a_rolling_restart_under_load_fails_no_request(cluster: Cluster) -> None:
    people = [sign_up_on(cluster, cluster.web_url, f"Rolling Load {n}") for n in range(2)]
    writers = [Writer(person, api_client(cluster.api_url)) for person in people]
    toggle = itertools.count()

    def call(n: int) -> httpx.Response:
        if next(toggle) % 2:
            return writers[n].create(n)
        return writers[n].api.get(people[n].tasks, headers=bearer(people[n].token))

    # The writers would retry a failed create; the test counts retries as failures.
    load = Load(call, threads=len(people), pause=0.05).start()
    time.sleep(1.0)
    for i in range(1, SIZE + 1):
        cluster.signal(f"api-{i}", signal.SIGTERM)  # as an orchestrator stops an instance
        _wait_state(cluster, f"api-{i}", lambda state: state != "UP", 15)
        cluster.wait_until_up(f"api-{i}")
    time.sleep(0.5)
    statuses = load.stop()
    report(f"rolling restart of {SIZE} API instances: {len(statuses)} requests, "
           f"{len([s for s in statuses if s >= 400 or s == 0])} failed, "
           f"{sum(w.retries for w in writers)} retries")  # fmt: skip
    assert sum(w.retries for w in writers) == 0
    assert set(statuses) <= {200, 201}


# -- the one signing key ----------------------------------------------------------------------


def _together(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Every call at the same moment, each on a thread of its own."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@contextlib.contextmanager
def web_instances(cluster: Cluster, database: str, count: int) -> Iterator[list[str]]:
    """`count` more web instances like web-1, started together on a fresh, migrated database."""
    owner = cluster.paths.owner_password.read_text(encoding="utf-8").strip()
    cluster.sql(f"CREATE DATABASE {database} OWNER tandem", database="postgres")
    url = cluster.postgres.url("tandem", owner, database)
    migrate = RepoPaths(ROOT).backend_command(
        "alembic", "-c", str(BACKEND / "alembic.ini"), "upgrade", "head"
    )
    subprocess.run(migrate, cwd=BACKEND, env=_base_env() | {"DATABASE_URL": url}, check=True,
                   capture_output=True)  # fmt: skip
    env = cluster.environ("web-1") | {"DATABASE_URL": url}
    children = []
    log = (LOGS / "cluster-keys.log").open("ab")
    try:
        for number in range(count):
            port = free_port()
            child = Child(f"web-keys-{number}", next_argv(port), cwd=FRONTEND, env=env,
                          output=log)  # fmt: skip
            child.start()
            children.append((child, f"http://{HOST}:{port}"))
        _wait_until_ready(children, "/api/health", "a web instance")
        yield [base for _, base in children]
    finally:
        for child, _ in children:
            child.stop()
        log.close()


def test_web_instances_starting_together_leave_exactly_one_signing_key(cluster: Cluster) -> None:
    """No one-shot step here: every instance races to mint the first key, and then, once it
    has expired, the next one (a rotation reached together)."""
    database = f"tandem_keys_{secrets.token_hex(3)}"
    with web_instances(cluster, database, SIZE) as urls:
        clients = [api_client(url) for url in urls for _ in range(3)]
        published = _together([lambda c=c: c.get("/api/auth/jwks") for c in clients])
        assert {r.status_code for r in published} == {200}
        kids = {key["kid"] for r in published for key in r.json()["keys"]}
        rows = cluster.sql("SELECT count(*) FROM jwks", database=database).strip()
        report(f"{len(clients)} key-set requests on {SIZE} fresh instances at once: {rows} key")
        assert rows == "1"
        assert len(kids) == 1

        people = [sign_up_on(cluster, url, f"Key Race {n}") for n, url in enumerate(urls)]
        cluster.sql(
            "UPDATE jwks SET \"expiresAt\" = now() - interval '1 second'", database=database
        )
        tokens = _together(
            [lambda p=p: p.web.get("/api/auth/token") for p in people for _ in range(3)]
        )
        assert {r.status_code for r in tokens} == {200}
        new_kids = {jwt_header(r.json()["token"])["kid"] for r in tokens}
        live = cluster.sql(
            'SELECT count(*) FROM jwks WHERE "expiresAt" > now()', database=database
        ).strip()
        report(f"rotation reached together by {len(tokens)} token requests: {live} new key")
        assert live == "1"
        assert len(new_kids) == 1
        assert new_kids.isdisjoint(kids)


def test_a_rotation_under_load_is_accepted_by_every_api_instance(cluster: Cluster) -> None:
    """A key that web-2 has just minted reaches api-1 and api-2 before they have fetched it: the
    unknown-kid cooldown waits for the fetch instead of refusing the token."""
    loaded = [sign_up_on(cluster, cluster.web_url, f"Rotation Load {n}") for n in range(2)]
    headers = {"Sec-Fetch-Site": "same-origin"}
    load = Load(lambda n: loaded[n].web.get("/api/tasks", headers=headers),
                threads=len(loaded), pause=0.05).start()  # fmt: skip
    old = cluster.sql('SELECT id FROM jwks WHERE "expiresAt" > now()').split()
    cluster.sql(
        'UPDATE jwks SET "expiresAt" = now() - interval \'1 second\' WHERE "expiresAt" > now()'
    )
    accepted = []
    for number, web_url in enumerate((cluster.web_urls[1], cluster.web_urls[0])):
        person = sign_up_on(cluster, web_url, f"Rotation New {number}")
        assert jwt_header(person.token)["kid"] not in old
        for api_url in cluster.api_urls:
            response = api_client(api_url).get(ME, headers=bearer(person.token))
            accepted.append(response.status_code)
    statuses = load.stop()
    live = cluster.sql('SELECT count(*) FROM jwks WHERE "expiresAt" > now()').strip()
    report(f"rotation under load: new-key tokens on each API instance {accepted}; "
           f"{len(statuses)} proxied requests meanwhile, statuses {sorted(set(statuses))}; "
           f"{live} live key")  # fmt: skip
    assert accepted == [200] * len(accepted)
    assert set(statuses) == {200}
    assert live == "1"


# -- the connection budget, and Ctrl-C --------------------------------------------------------


def test_postgresql_connections_under_load_stay_within_the_budget(cluster: Cluster) -> None:
    people = [sign_up_on(cluster, cluster.web_url, f"Budget Load {n}") for n in range(6)]
    apis = [api_client(cluster.api_url) for _ in people]
    headers = {"Sec-Fetch-Site": "same-origin"}

    def call(n: int) -> httpx.Response:
        person = people[n % len(people)]
        if n % 2:
            return person.web.get("/api/tasks", headers=headers)  # web → LB → API
        return apis[n % len(people)].get(person.tasks, headers=bearer(person.token))

    load = Load(call, threads=2 * len(people), pause=0.04).start()
    counts = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        counts.append(int(cluster.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).strip()))  # fmt: skip
        time.sleep(0.1)
    statuses = load.stop()
    report(f"PostgreSQL connections under load ({len(statuses)} requests): at most "
           f"{max(counts)} (budget {CONNECTION_BUDGET}, this probe's own included)")  # fmt: skip
    assert failures(statuses) == []
    assert max(counts) <= CONNECTION_BUDGET


def test_zz_ctrl_c_stops_the_whole_cluster(cluster: Cluster) -> None:
    children = [f"{kind}-{i}" for kind in ("web", "api") for i in range(1, SIZE + 1)]
    pids = [cluster.pid(name) for name in (*children, "redis", "haproxy")]
    assert interrupt(cluster.runner) == 0
    assert [pid for pid in pids if group_members(pid)] == []
    ports = [cluster.ports.web, cluster.ports.api, cluster.ports.postgres, cluster.ports.redis]
    assert [port for port in ports if port_in_use(port)] == []
