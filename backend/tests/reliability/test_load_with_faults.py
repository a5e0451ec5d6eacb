"""Load with faults: no lost or duplicated writes while PostgreSQL crashes twice.

Issue 5, "Load with faults". A real API process serves 50 users, each with 8
concurrent writers, who create (each with its own ``Idempotency-Key``),
update (PATCH with ``If-Match``), delete (with ``If-Match``) and list their
tasks for 30 seconds. Meanwhile PostgreSQL is stopped with ``pg_ctl stop -m
immediate`` and started again, twice. The API is never restarted.

Each writer alone changes the tasks it created, one request at a time, so it
knows what each task must hold. A write that got no answer, or a 503, may or
may not have happened: the writer stops touching that task, and the checks
afterwards accept exactly the states before and after that write, never a
mix of the two. Every create that got no 201 is retried with its key until
it settles. Then, as the superuser:

- every acknowledged write is found: created tasks exist (once), updates
  hold unless a later write of the same writer replaced them, deleted tasks
  are gone;
- no task exists that no response ever named (a duplicate or a phantom);
- no response named another user's task;
- nothing answered 500, no client timeout (httpx, 10 s a phase) fired, and no
  request took over 20 s in all.

The figures go to stdout (``pytest -s``) and to ``last_load_report.json``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.api_server import ApiServer, PrivateCluster, running_api
from tests.support.jwks_server import JWKSServer
from tests.support.rows import insert_user
from tests.support.tokens import SigningKey, claims_for, sign_eddsa

USERS = 50
WRITERS_PER_USER = 8
LOAD_SECONDS = 30.0
FAULTS_AT_SECONDS = (8.0, 18.0)
DOWN_SECONDS = 2.0
CLIENT_TIMEOUT_SECONDS = 10.0  # httpx's, for each of connect, write, read and pool
# Longer than this for a whole request, however its phases added up, would be a hang.
HANG_SECONDS = 2 * CLIENT_TIMEOUT_SECONDS
# A person behind each writer: the pause between one answer and the next request. It
# keeps 400 writers near what one API process on a small machine serves, so latency
# measures the faults rather than a queue that a closed loop of clients would build.
THINK_SECONDS = (2.0, 5.0)
# Below uvicorn's 5 s keep-alive timeout: a client that reuses a connection the server
# is closing at that instant gets a reset (RFC 9112 §9.3.1), which is not a fault here.
KEEPALIVE_EXPIRY_SECONDS = 2.0
SETTLE_ATTEMPTS = 30
REPORT_PATH = Path(__file__).with_name("last_load_report.json")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNAVAILABLE_BODY = {
    "detail": "The service is temporarily unavailable; retry shortly",
    "code": "service_unavailable",
}


@dataclass(frozen=True)
class Version:
    title: str
    description: str
    completed: bool


GONE = None  # the state of a deleted task


@dataclass
class LoadUser:
    index: int
    id: str
    headers: dict[str, str]
    http: httpx.AsyncClient

    @property
    def tasks_url(self) -> str:
        return f"/api/{self.id}/tasks"


@dataclass
class Tracked:
    """One task, as the writer that created it knows it."""

    id: str
    user: LoadUser
    key: str
    acked: Version | None  # None once a delete was acknowledged
    etag: str
    version: int = 0
    writable: bool = True
    unacked: list[Version | None] = field(default_factory=list)  # sent, never acknowledged
    acked_updates: list[int] = field(default_factory=list)  # version numbers answered 200
    acked_delete: bool = False


@dataclass
class CreateAttempt:
    user: LoadUser
    key: str
    body: dict[str, str]
    acked_id: str | None = None  # set by a 201 during the load
    settled_id: str | None = None  # set by the retries afterwards
    settled_by_replay: bool = False
    settle_tries: int = 0


@dataclass
class Call:
    kind: str
    started: float
    ended: float
    status: int | None
    error: str | None


@dataclass
class Fault:
    stop_called: float
    stopped: float
    start_called: float
    started: float


@dataclass
class Load:
    deadline: float
    calls: list[Call] = field(default_factory=list)
    creates: list[CreateAttempt] = field(default_factory=list)
    tracked: dict[str, Tracked] = field(default_factory=dict)
    seen_ids: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    violations: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    client_loop_lag: float = 0.0  # the test's own event loop: how late a 50 ms sleep woke

    def violation(self, message: str) -> None:
        if len(self.violations) < 200:
            self.violations.append(message)


def version_of(title: str) -> int:
    """Titles are ``c:<key>`` when created and ``c:<key>#v<n>`` after update n."""
    return int(title.rsplit("#v", 1)[1]) if "#v" in title else 0


def creation_key(title: str) -> str:
    return title.removeprefix("c:").split("#v", 1)[0]


async def call(
    load: Load, user: LoadUser, kind: str, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    """Send one request and record its outcome; None when no response came back."""
    started = time.monotonic()
    try:
        response = await user.http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        load.calls.append(
            Call(kind, started, time.monotonic(), None, f"timeout:{type(exc).__name__}")
        )
        load.violation(f"client timeout on {kind} after {time.monotonic() - started:.1f} s")
        return None
    except httpx.TransportError as exc:
        ended = time.monotonic()
        load.calls.append(Call(kind, started, ended, None, type(exc).__name__))
        load.violation(
            f"transport error on {kind} at {started - load.deadline + LOAD_SECONDS:.2f} s "
            f"after {ended - started:.2f} s: {type(exc).__name__}: {exc!r} {exc.__cause__!r}"
        )
        return None
    ended = time.monotonic()
    hung = "hang" if ended - started > HANG_SECONDS else None
    load.calls.append(Call(kind, started, ended, response.status_code, hung))
    if hung:
        load.violation(f"{kind} answered {response.status_code} after {ended - started:.1f} s")
    if response.status_code >= 500:
        if response.status_code != 503:
            load.violation(f"{response.status_code} on {kind}: {response.text[:200]}")
        elif not response.headers.get("retry-after", "").isdigit() or (
            response.json() != UNAVAILABLE_BODY
        ):
            load.violation(f"a 503 without Retry-After or with another body: {response.text}")
    # Every id in any body it got, error bodies included, must name the caller's own task.
    load.seen_ids[user.id].update(UUID.findall(response.text))
    return response


async def think(load: Load, rng: random.Random) -> None:
    pause = rng.uniform(*THINK_SECONDS)
    await asyncio.sleep(max(0.0, min(pause, load.deadline - time.monotonic())))


async def writer(load: Load, user: LoadUser, number: int) -> None:
    rng = random.Random(f"{user.id}-{number}")
    mine: list[Tracked] = []
    serial = 0
    await asyncio.sleep(rng.uniform(0, THINK_SECONDS[1]))  # writers do not start in step
    while time.monotonic() < load.deadline:
        writable = [task for task in mine if task.writable]
        roll = rng.random()
        if len(writable) < 2 or roll < 0.40:
            serial += 1
            await create(load, user, f"{user.index}-{number}-{serial}", mine)
        elif roll < 0.75:
            await update(load, rng.choice(writable))
        elif roll < 0.90:
            await delete(load, rng.choice(writable))
        else:
            await call(
                load, user, "list", "GET", user.tasks_url, params={"limit": 100},
                headers=user.headers,
            )  # fmt: skip
        await think(load, rng)


async def create(load: Load, user: LoadUser, serial: str, mine: list[Tracked]) -> None:
    key = f"{serial}-{secrets.token_hex(4)}"
    body = {"title": f"c:{key}", "description": f"d:{key}"}
    attempt = CreateAttempt(user, key, body)
    load.creates.append(attempt)
    response = await call(
        load, user, "create", "POST", user.tasks_url, json=body,
        headers={**user.headers, "Idempotency-Key": key},
    )  # fmt: skip
    if response is None or response.status_code == 503:
        return
    if response.status_code != 201:
        load.violation(f"create answered {response.status_code}: {response.text[:200]}")
        return
    task = response.json()
    if "idempotent-replayed" in response.headers:
        load.violation(f"a fresh key was answered with a replay: {key}")
    if (task["title"], task["description"], task["completed"]) != (
        body["title"],
        body["description"],
        False,
    ):
        load.violation(f"create answered another task: {task}")
    attempt.acked_id = task["id"]
    tracked = Tracked(
        id=task["id"],
        user=user,
        key=key,
        acked=Version(body["title"], body["description"], False),
        etag=response.headers["etag"],
    )
    mine.append(tracked)
    load.tracked[tracked.id] = tracked


async def update(load: Load, task: Tracked) -> None:
    version = task.version + 1
    new = Version(f"c:{task.key}#v{version}", f"d:{task.key}#v{version}", version % 2 == 1)
    response = await call(
        load, task.user, "update", "PATCH", f"{task.user.tasks_url}/{task.id}",
        headers={**task.user.headers, "If-Match": task.etag},
        json={"title": new.title, "description": new.description, "completed": new.completed},
    )  # fmt: skip
    task.version = version
    if response is None or response.status_code == 503:
        task.unacked.append(new)
        task.writable = False
        return
    if response.status_code != 200:
        # Nobody else writes this task: a 412 or 404 means an earlier write was lost or doubled.
        load.violation(f"update answered {response.status_code}: {response.text[:200]}")
        task.writable = False
        return
    body = response.json()
    if (body["id"], body["title"], body["description"], body["completed"]) != (
        task.id, new.title, new.description, new.completed,
    ):  # fmt: skip
        load.violation(f"update answered another state: {body}")
    task.acked = new
    task.etag = response.headers["etag"]
    task.acked_updates.append(version)


async def delete(load: Load, task: Tracked) -> None:
    response = await call(
        load, task.user, "delete", "DELETE", f"{task.user.tasks_url}/{task.id}",
        headers={**task.user.headers, "If-Match": task.etag},
    )  # fmt: skip
    task.writable = False
    if response is None or response.status_code == 503:
        task.unacked.append(GONE)
        return
    if response.status_code != 204:
        load.violation(f"delete answered {response.status_code}: {response.text[:200]}")
        return
    task.acked = None
    task.acked_delete = True


async def crash_postgres_twice(load: Load, cluster: PrivateCluster, t0: float) -> None:
    for at in FAULTS_AT_SECONDS:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        stop_called = time.monotonic()
        await asyncio.to_thread(cluster.postgres.stop, "immediate")
        stopped = time.monotonic()
        await asyncio.sleep(DOWN_SECONDS)
        start_called = time.monotonic()
        await asyncio.to_thread(cluster.postgres.start)
        load.faults.append(Fault(stop_called, stopped, start_called, time.monotonic()))


async def watch_loop_lag(load: Load) -> None:
    """How late this process's event loop runs: latency measured here includes it."""
    while time.monotonic() < load.deadline:
        before = time.monotonic()
        await asyncio.sleep(0.05)
        load.client_loop_lag = max(load.client_loop_lag, time.monotonic() - before - 0.05)


async def settle(load: Load, attempt: CreateAttempt) -> None:
    """Retry an unacknowledged create with its key until it answers 201."""
    rng = random.Random(attempt.key)
    for tries in range(1, SETTLE_ATTEMPTS + 1):
        attempt.settle_tries = tries
        response = await call(
            load, attempt.user, "settle", "POST", attempt.user.tasks_url, json=attempt.body,
            headers={**attempt.user.headers, "Idempotency-Key": attempt.key},
        )  # fmt: skip
        if response is not None and response.status_code == 201:
            task = response.json()
            if (task["title"], task["description"]) != (
                attempt.body["title"],
                attempt.body["description"],
            ):
                load.violation(f"a retry answered another task: {task}")
            attempt.settled_id = task["id"]
            attempt.settled_by_replay = response.headers.get("idempotent-replayed") == "true"
            if task["id"] in load.tracked:
                load.violation(f"a retry answered a task another create owns: {task['id']}")
                return
            load.tracked[task["id"]] = Tracked(
                id=task["id"],
                user=attempt.user,
                key=attempt.key,
                acked=Version(attempt.body["title"], attempt.body["description"], False),
                etag=response.headers["etag"],
                writable=False,
            )
            return
        if response is not None and response.status_code != 503:
            load.violation(f"a retry answered {response.status_code}: {response.text[:200]}")
            return
        await asyncio.sleep(rng.uniform(0.1, 0.5))
    load.violation(f"create {attempt.key} did not settle in {SETTLE_ATTEMPTS} tries")


@pytest_asyncio.fixture
async def api(
    private: PrivateCluster, process_jwks: JWKSServer, tmp_path: Path
) -> AsyncIterator[ApiServer]:
    async with running_api(
        database_url=private.database.owner_url,
        jwks_url=process_jwks.url,
        log_path=tmp_path / "api.log",
    ) as server:
        yield server


async def make_users(engine: AsyncEngine, api: ApiServer, key: SigningKey) -> list[LoadUser]:
    users = []
    rows = await asyncio.gather(*(insert_user(engine) for _ in range(USERS)))
    for index, (user_id, sid) in enumerate(rows):
        token = sign_eddsa(claims_for(user_id, sid), key)
        http = httpx.AsyncClient(
            base_url=api.url,
            timeout=CLIENT_TIMEOUT_SECONDS,
            limits=httpx.Limits(
                max_connections=WRITERS_PER_USER, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS
            ),
            trust_env=False,
        )
        users.append(LoadUser(index, user_id, {"Authorization": f"Bearer {token}"}, http))
    return users


async def database_state(
    engine: AsyncEngine, users: list[LoadUser]
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str | None]]:
    ids = [user.id for user in users]
    async with engine.connect() as connection:
        tasks = {
            str(row.id): dict(row._mapping)
            for row in await connection.execute(
                text(
                    "SELECT id, user_id, title, description, completed FROM task "
                    "WHERE user_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        keys = {
            (row.user_id, row.key): row.task_id
            for row in await connection.execute(
                text(
                    "SELECT user_id, key, response_body->>'id' AS task_id FROM idempotency_key "
                    "WHERE user_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
    return tasks, keys


def state_in_db(row: dict[str, Any] | None) -> Version | None:
    if row is None:
        return GONE
    return Version(row["title"], row["description"], row["completed"])


def first_success_after(calls: list[Call], instant: float) -> float | None:
    ended = [
        c.ended for c in calls if c.status is not None and c.status < 300 and c.ended > instant
    ]
    return min(ended, default=None)


async def test_no_write_is_lost_or_doubled_while_postgres_crashes_twice(
    private: PrivateCluster,
    private_superuser: AsyncEngine,
    api: ApiServer,
    process_key: SigningKey,
) -> None:
    users = await make_users(private_superuser, api, process_key)
    try:
        t0 = time.monotonic()
        load = Load(deadline=t0 + LOAD_SECONDS)
        await asyncio.gather(
            crash_postgres_twice(load, private, t0),
            watch_loop_lag(load),
            *(writer(load, user, n) for user in users for n in range(WRITERS_PER_USER)),
        )
        load_seconds = time.monotonic() - t0
        load_calls = list(load.calls)

        unsettled = [a for a in load.creates if a.acked_id is None]
        semaphore = asyncio.Semaphore(100)

        async def settle_one(attempt: CreateAttempt) -> None:
            async with semaphore:
                await settle(load, attempt)

        await asyncio.gather(*(settle_one(a) for a in unsettled))
        tasks, keys = await database_state(private_superuser, users)
    finally:
        await asyncio.gather(*(user.http.aclose() for user in users))

    report = examine(load, load_calls, tasks, keys, load_seconds, unsettled)
    REPORT_PATH.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\nload with faults:", json.dumps(report, indent=2))  # noqa: T201

    log = api.log_text()
    assert api.process.poll() is None, "the API process died"
    assert not load.violations, "\n".join(load.violations[:50]) + "\n" + log[-3000:]
    assert report["writes"]["found"] == report["writes"]["acknowledged"]
    assert report["duplicates_found"] == 0
    assert report["responses"]["500"] == 0
    assert report["responses"]["client_timeouts"] == 0
    assert report["responses"]["transport_errors"] == 0
    assert report["responses"]["hangs"] == 0
    for restart in report["restarts"]:
        assert restart["503_while_down"] > 0, "the fault did not reach the API"
        assert restart["recovery_seconds"] is not None, "the API did not recover by itself"
    assert report["max_latency_seconds"]["overall"] < HANG_SECONDS


def examine(
    load: Load,
    load_calls: list[Call],
    tasks: dict[str, dict[str, Any]],
    keys: dict[tuple[str, str], str | None],
    load_seconds: float,
    unsettled: list[CreateAttempt],
) -> dict[str, Any]:
    """Check the database against what every writer was told; the figures for the report."""
    # Every task in the database was named by a response to its own user.
    by_creation_key: Counter[str] = Counter()
    for task_id, row in tasks.items():
        by_creation_key[creation_key(row["title"])] += 1
        tracked = load.tracked.get(task_id)
        if tracked is None:
            load.violation(f"task {task_id} ({row['title']}) was never acknowledged: a phantom")
        elif tracked.user.id != row["user_id"]:
            load.violation(f"task {task_id} belongs to another user than its creator")
    duplicates = sum(count - 1 for count in by_creation_key.values())

    # Every create, acknowledged or settled, has its key, pointing at its task, and one task.
    for attempt in load.creates:
        task_id = attempt.acked_id or attempt.settled_id
        stored = keys.get((attempt.user.id, attempt.key))
        if task_id is None:
            continue  # reported by settle()
        if stored is None and task_id not in tasks and (attempt.user.id, attempt.key) in keys:
            continue  # the task was deleted since, and its key keeps no body (bare 404)
        if stored != task_id:
            load.violation(f"key {attempt.key} stores {stored}, but its task is {task_id}")

    # Every task ends in a state its writer was told of, or in the whole of one unanswered write.
    found = Counter[str]()
    uncertain = Counter[str]()
    for tracked in load.tracked.values():
        actual = state_in_db(tasks.get(tracked.id))
        allowed = [tracked.acked, *tracked.unacked]
        if actual not in allowed:
            load.violation(f"task {tracked.id} holds {actual}; allowed {allowed}")
        for unacked in tracked.unacked:
            took = actual == unacked
            uncertain[
                f"{'delete' if unacked is GONE else 'update'}_{'took' if took else 'not'}"
            ] += 1
        created_ack = any(a.acked_id == tracked.id for a in load.creates)
        later_delete = GONE in tracked.unacked or tracked.acked_delete
        exists = tracked.id in tasks
        key = (tracked.user.id, tracked.key)
        # A deleted task's key keeps its row but no body: a retry gets 404, not a new task.
        bodiless = key in keys and keys[key] is None and not exists
        if created_ack and (keys.get(key) == tracked.id or bodiless):
            found["create"] += exists or later_delete
        if tracked.acked_delete and not exists:
            found["delete"] += 1
        for number in tracked.acked_updates:
            current = version_of(tasks[tracked.id]["title"]) if exists else None
            found["update"] += (current is not None and current >= number) or later_delete

    acknowledged = {
        "create": sum(a.acked_id is not None for a in load.creates),
        "update": sum(len(t.acked_updates) for t in load.tracked.values()),
        "delete": sum(t.acked_delete for t in load.tracked.values()),
    }
    attempted = Counter(c.kind for c in load_calls if c.kind != "list")

    # No response named a task of another user.
    owner = {task_id: tracked.user.id for task_id, tracked in load.tracked.items()}
    leaks = 0
    for user_id, seen in load.seen_ids.items():
        for task_id in seen:
            if owner.get(task_id, tasks.get(task_id, {}).get("user_id")) != user_id:
                leaks += 1
                load.violation(f"user {user_id} was shown task {task_id}, not theirs")

    statuses = Counter(str(c.status) for c in load_calls if c.status is not None)
    settling = Counter(str(c.status) for c in load.calls[len(load_calls) :] if c.status is not None)
    restarts = []
    fault_latencies = []
    for fault in load.faults:
        recovered_at = first_success_after(load_calls, fault.started)
        window_end = recovered_at or fault.started
        overlapping = [
            c for c in load_calls if c.started < window_end and c.ended > fault.stop_called
        ]
        fault_latencies.extend(c.ended - c.started for c in overlapping)
        restarts.append(
            {
                "stopped_at_s": round(fault.stop_called - (load.deadline - LOAD_SECONDS), 2),
                "stop_took_s": round(fault.stopped - fault.stop_called, 3),
                "down_s": round(fault.start_called - fault.stopped, 3),
                "start_took_s": round(fault.started - fault.start_called, 3),
                "recovery_seconds": (
                    None if recovered_at is None else round(recovered_at - fault.started, 3)
                ),
                "503_while_down": sum(
                    c.status == 503 and fault.stopped <= c.ended <= fault.start_called
                    for c in load_calls
                ),
                "requests_in_window": len(overlapping),
            }
        )
    latencies = sorted(c.ended - c.started for c in load_calls)
    settled = [a for a in unsettled if a.settled_id is not None]
    return {
        "users": USERS,
        "writers_per_user": WRITERS_PER_USER,
        "load_seconds": round(load_seconds, 2),
        "requests": len(load_calls),
        "requests_per_second": round(len(load_calls) / load_seconds, 1),
        "writes": {
            "attempted": sum(attempted.values()),
            "acknowledged": sum(acknowledged.values()),
            "found": sum(found.values()),
            "attempted_by_kind": dict(attempted),
            "acknowledged_by_kind": acknowledged,
            "found_by_kind": dict(found),
        },
        "unacknowledged_creates": {
            "count": len(unsettled),
            "settled": len(settled),
            "had_committed_replayed": sum(a.settled_by_replay for a in settled),
            "had_not_committed_created_now": sum(not a.settled_by_replay for a in settled),
            "max_tries": max((a.settle_tries for a in unsettled), default=0),
        },
        "unacknowledged_updates_and_deletes": dict(uncertain),
        "duplicates_found": duplicates,
        "tasks_in_database": len(tasks),
        "cross_user_leaks": leaks,
        "responses": {
            "during_load": dict(sorted(statuses.items())),
            "while_settling": dict(sorted(settling.items())),
            "500": statuses["500"] + settling["500"],
            "client_timeouts": sum(
                bool(c.error and c.error.startswith("timeout")) for c in load.calls
            ),
            "transport_errors": sum(
                bool(c.error and c.error != "hang" and not c.error.startswith("timeout"))
                for c in load.calls
            ),
            "hangs": sum(c.error == "hang" for c in load.calls),
            f"slower_than_{CLIENT_TIMEOUT_SECONDS:.0f}_s_in_all": sum(
                c.ended - c.started > CLIENT_TIMEOUT_SECONDS for c in load.calls
            ),
        },
        "restarts": restarts,
        "max_latency_seconds": {
            "during_faults": round(max(fault_latencies, default=0.0), 3),
            "overall": round(latencies[-1], 3) if latencies else 0.0,
            "p50": round(statistics.median(latencies), 4) if latencies else 0.0,
            "p99": round(latencies[int(len(latencies) * 0.99)], 4) if latencies else 0.0,
            "by_status": {
                str(status): round(
                    max(c.ended - c.started for c in load_calls if c.status == status), 3
                )
                for status in sorted({c.status for c in load_calls if c.status is not None})
            },
            "client_loop_lag": round(load.client_loop_lag, 3),
        },
        "violations": len(load.violations),
    }
