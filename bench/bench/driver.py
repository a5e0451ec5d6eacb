"""Driver: µs of database work per task-list request, Tandem's against each driver alone.

Every contender does what `GET /api/{user_id}/tasks` asks of PostgreSQL: become the
app role, set `app.user_id`, check the session, read the first page, all in one
transaction, for the probed user of the seeded main database, one
request at a time and 8 at a time:

- Tandem's own code (`Database.user_transaction` and `service.list_tasks`: statements
  compiled once from SQLAlchemy Core, run on asyncpg's own pool), as shipped, and the
  same code with the setting the API turned away from: generic plans for prepared
  statements (PostgreSQL's default `plan_cache_mode`), also on the list filtered to
  pending tasks (the pool's pre-ping, measured here while the API used SQLAlchemy's
  pool, went with that pool: asyncpg's has none);
- each driver alone: asyncpg with its own pool (BEGIN, context, query, COMMIT: four
  round trips) and psycopg 3's pipeline mode, which sends the context statement and the
  query together and waits once (one round trip).

In-process against the benchmark's PostgreSQL, interleaved round by round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
import psycopg
from tandem.config import Settings
from tandem.db import PLAN_CACHE_MODE, Database
from tandem.tasks import service
from tandem.tasks.schemas import TaskStatus
from tandem_auth import Principal

from bench.budget import PAGE_SIZE, Budget
from bench.context import Benchmark, Context, fill_ratio
from bench.population import Identity
from bench.results import BenchResult

MAX_CONCURRENCY = 8  # below the API's default pool of 10, so nobody waits for a connection
SHIPPED = "Tandem on asyncpg (as shipped)"
GENERIC_PLANS = "as shipped + generic plans"
# The same two on a filtered list (`?status=pending`), where a plan made for the average
# user fits the probed user worst.
SHIPPED_PENDING = "as shipped, pending tasks"
GENERIC_PENDING = "generic plans, pending tasks"
RAW_ASYNCPG = "asyncpg alone, 4 round trips"
PIPELINE = "psycopg 3 pipeline, 1 round trip"

# tandem/db.py's context statement in each driver's own parameter style (for a token
# with a `sid`, as every benchmark token has).
_CONTEXT = """
SELECT set_config('role', 'tandem_app', true), set_config('app.user_id', {sub}, true),
       (SELECT "expiresAt" FROM session
        WHERE id = {sid} AND "userId" = {sub} AND "expiresAt" > now()) AS live_until
"""
_FIRST_PAGE = f"""
SELECT id, user_id, title, description, completed, created_at, updated_at FROM task
WHERE user_id = {{sub}} ORDER BY created_at DESC, id DESC LIMIT {PAGE_SIZE + 1}
"""

Request = Callable[[], Awaitable[None]]
# As the API's own connections run: a fresh plan for every user.
_PSYCOPG_OPTIONS = f"-c plan_cache_mode={PLAN_CACHE_MODE}"


class _GenericPlans(Database):
    """Tandem's `Database` on connections left at PostgreSQL's default plan cache."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        del self._server_settings["plan_cache_mode"]


def _principal(who: Identity) -> Principal:
    return Principal(
        sub=who.user_id,
        sid=who.session_id,
        email=None,
        name=None,
        kid=None,
        expires_at=time.time() + 3600,
    )


def _through_tandem(
    database: Database, principal: Principal, status: TaskStatus = "all"
) -> Request:
    async def request() -> None:
        async with database.user_transaction(principal) as connection:
            page, _next = await service.list_tasks(
                connection,
                user_id=principal.sub,
                status=status,
                q=None,
                sort="-created_at",
                limit=PAGE_SIZE,
                cursor=None,
            )
        assert len(page) == PAGE_SIZE

    return request


def _asyncpg_alone(pool: asyncpg.Pool, who: Identity) -> Request:
    context = _CONTEXT.format(sub="$1", sid="$2")
    first_page = _FIRST_PAGE.format(sub="$1")

    async def request() -> None:
        async with pool.acquire() as connection, connection.transaction():
            live = await connection.fetchrow(context, who.user_id, who.session_id)
            assert live is not None and live["live_until"] is not None
            rows = await connection.fetch(first_page, who.user_id)
        assert len(rows) == PAGE_SIZE + 1

    return request


def _psycopg_pipeline(
    connections: asyncio.Queue[psycopg.AsyncConnection], who: Identity
) -> Request:
    context = _CONTEXT.format(sub="%(sub)s", sid="%(sid)s")
    first_page = _FIRST_PAGE.format(sub="%(sub)s")
    params = {"sub": who.user_id, "sid": who.session_id}

    async def request() -> None:
        connection = await connections.get()
        try:
            # Autocommit: the statements up to the Sync form one implicit transaction.
            async with connection.pipeline() as pipeline:
                live = await connection.execute(context, params, prepare=True)
                page = await connection.execute(first_page, params, prepare=True)
                await pipeline.sync()
            row = await live.fetchone()
            assert row is not None and row[2] is not None
            rows = await page.fetchall()
        finally:
            connections.put_nowait(connection)
        assert len(rows) == PAGE_SIZE + 1

    return request


async def _per_request_us(request: Request, requests: int, concurrency: int) -> float:
    """Wall time per request: latency at concurrency 1, the inverse of throughput above."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await request()

    per_worker = requests // concurrency
    start = time.perf_counter()
    await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
    return (time.perf_counter() - start) / (per_worker * concurrency) * 1e6


async def _measure(
    url: str, who: Identity, *, rounds: int, requests: Mapping[int, int]
) -> dict[int, dict[str, list[float]]]:
    """Per concurrency level, each contender's µs per request, round by round."""
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    principal = _principal(who)
    databases = {SHIPPED: Database(settings), GENERIC_PLANS: _GenericPlans(settings)}
    for database in databases.values():
        await database.open()
    pool = await asyncpg.create_pool(
        url,
        min_size=MAX_CONCURRENCY,
        max_size=MAX_CONCURRENCY,
        server_settings={"plan_cache_mode": PLAN_CACHE_MODE},
    )
    connections: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
    for _ in range(MAX_CONCURRENCY):
        connections.put_nowait(
            await psycopg.AsyncConnection.connect(url, autocommit=True, options=_PSYCOPG_OPTIONS)
        )
    contenders = {
        **{name: _through_tandem(database, principal) for name, database in databases.items()},
        SHIPPED_PENDING: _through_tandem(databases[SHIPPED], principal, "pending"),
        GENERIC_PENDING: _through_tandem(databases[GENERIC_PLANS], principal, "pending"),
        RAW_ASYNCPG: _asyncpg_alone(pool, who),
        PIPELINE: _psycopg_pipeline(connections, who),
    }
    try:
        for request in contenders.values():  # connect and prepare, unrecorded
            await _per_request_us(request, MAX_CONCURRENCY * 4, MAX_CONCURRENCY)
        values: dict[int, dict[str, list[float]]] = {
            level: {name: [] for name in contenders} for level in requests
        }
        for r in range(rounds):
            order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
            for level, count in requests.items():
                for name in order:
                    values[level][name].append(
                        await _per_request_us(contenders[name], count, level)
                    )
        return values
    finally:
        for database in databases.values():
            await database.close()
        await pool.close()
        while not connections.empty():
            await connections.get_nowait().close()


_RATIOS = (
    ("generic plans ÷ custom plans (as shipped)", GENERIC_PLANS, SHIPPED),
    ("generic plans ÷ custom plans, pending tasks", GENERIC_PENDING, SHIPPED_PENDING),
    ("driver alone: one round trip (psycopg 3) ÷ four (asyncpg)", PIPELINE, RAW_ASYNCPG),
    ("asyncpg alone ÷ Tandem's code on it", RAW_ASYNCPG, SHIPPED),
)


def run(ctx: Context) -> BenchResult:
    budget = ctx.budget
    requests = {1: 16, MAX_CONCURRENCY: 80} if budget.smoke else {1: 400, MAX_CONCURRENCY: 1600}
    result = BenchResult(
        "driver",
        "Driver: µs of database work per task-list request",
        "The transaction `GET /api/{user_id}/tasks` runs (role, `app.user_id`, session "
        "check, first page of 50), through Tandem's code and through each "
        f"driver alone; {budget.rounds} interleaved rounds of "
        + " and ".join(f"{n} requests {c} at a time" for c, n in requests.items())
        + ", in-process. One at a time, µs per request is latency (round trips count); "
        f"{MAX_CONCURRENCY} at a time, it is the inverse of throughput (CPU counts).",
    )
    url = ctx.stack.cluster.owner_url(ctx.stack.main_database)
    ctx.progress.status("driver: measuring")
    values = asyncio.run(
        _measure(url, ctx.stack.population.probe, rounds=budget.rounds, requests=requests)
    )
    for level, by_name in values.items():
        group = f"µs per list request, {level} at a time"
        for name, per_request in by_name.items():
            result.add_series(f"{name}, {level} at a time", "µs", group).values.extend(per_request)
        for label, numerator, denominator in _RATIOS:
            fill_ratio(
                result.add_ratio(f"{label}, {level} at a time"),
                by_name[numerator],
                by_name[denominator],
            )
    ctx.progress.step("driver: done")
    return result


def _steps(_budget: Budget) -> int:
    return 1


BENCHMARK = Benchmark("driver", _steps, run)
