"""Search at scale: `q=` latency for a user with 5,000 tasks against a user with 50, at 1 million
tasks in all.

One database, seeded with the harness's helpers: the background users' tasks, the
heavy user's 5,000 spread evenly through the heap (bench.database), and the light
user's 50. Then one task in 32 of every user's (3.1 %, by creation order) gets a title
with the word searched for, "invoice": "Send the invoice for task number 123". No
other title or description holds it, so a search matches about 156 of the heavy user's
tasks and 2 of the light user's, a fraction as common as a real word's.

Both users' searches go to one API process, one request at a time (the query's cost,
not queueing), alternating. The target is on the p99; the p50 is beside it. The
plans of both searches, as the service builds them, go to `plans.md`.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from bench.budget import Budget
from bench.context import Benchmark, Context, fill_ratio, record_latency, socket_error_note
from bench.load import Contender, Request, alternate, steps
from bench.population import identity
from bench.results import BenchResult, Target
from bench.scale import list_sql

DATABASE = "bench_search"
WORD = "invoice"
EVERY = 32  # one task in this many of each user's carries the word
LIGHT_TASKS = 50
CONNECTIONS = 1
HEAVY = "user with {n:,} tasks"
LIGHT = f"user with {LIGHT_TASKS} tasks"

# Each user's tasks in creation order; the 16th, 48th, … get the word (the light user's
# 50 get it twice). The superuser runs it, past row-level security.
_MARK = f"""
UPDATE task SET title = 'Send the {WORD} for ' || lower(task.title)
  FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at, id) AS n
          FROM task) AS ranked
 WHERE task.id = ranked.id AND ranked.n % {EVERY} = {EVERY // 2}
"""
_MATCHES = f"""
SELECT count(*) FROM task
 WHERE ($1::text IS NULL OR user_id = $1)
   AND (title ILIKE '%{WORD}%' OR description ILIKE '%{WORD}%')
"""


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    cluster, population = stack.cluster, stack.population
    heavy, light = population.probe, identity("l", 0)
    heavy_label = HEAVY.format(n=budget.search_heavy_tasks)
    background = budget.search_tasks - budget.search_heavy_tasks - LIGHT_TASKS
    result = BenchResult(
        "search",
        "Search at scale: q= latency, heavy user against light user",
        f"`GET /api/{{user_id}}/tasks?q={WORD}` one request at a time, for a user with "
        f"{budget.search_heavy_tasks:,} tasks and for a user with {LIGHT_TASKS}, among "
        f"{budget.search_tasks:,} tasks in all ({population.users:,} other users). One task in "
        f'{EVERY} of each user\'s has "{WORD}" in its title ({100 / EVERY:.1f} %), nothing '
        "else has it. One database and one API process (one worker); the two users "
        "alternate in each round.",
    )
    cluster.create_database(DATABASE)
    api = stack.api("api-search", database=DATABASE)
    with ExitStack() as running:
        # The API boots while the table fills.
        running.callback(api.server.stop)
        api.server.start()
        ctx.progress.status(f"search: seeding {budget.search_tasks:,} tasks")
        started = time.monotonic()
        cluster.seed(
            DATABASE,
            population=population,
            tasks=background,
            probe_tasks=budget.search_heavy_tasks,
        )
        cluster.add_user(DATABASE, light, "Light")
        cluster.add_tasks(DATABASE, who=light, count=LIGHT_TASKS)
        cluster.execute(DATABASE, _MARK, timeout=900)
        cluster.execute(DATABASE, "VACUUM (ANALYZE) task", timeout=900)
        seeded = time.monotonic() - started
        total = cluster.value(DATABASE, "SELECT count(*) FROM task")
        matches = {
            label: cluster.value(DATABASE, _MATCHES, user_id, timeout=300)
            for label, user_id in (
                ("all", None),
                (heavy_label, heavy.user_id),
                (LIGHT, light.user_id),
            )
        }
        result.notes.append(
            f"Seeding {total:,} tasks (and marking {matches['all']:,} of them, "
            f"{100 * matches['all'] / total:.1f} %) took {seeded:.0f} s. Matches: "
            f"{matches[heavy_label]:,} of the heavy user's tasks, {matches[LIGHT]} of the "
            "light user's; a page holds 50."
        )
        ctx.progress.step("search: seeded")
        ctx.progress.status("search: waiting for the API")
        api.server.wait_ready()
        contenders: list[Contender] = []
        plans: list[str] = []
        for label, who in ((heavy_label, heavy), (LIGHT, light)):
            url = f"{api.url}/api/{who.user_id}/tasks?q={WORD}"
            bearer = {"Authorization": f"Bearer {stack.key.token(who)}"}
            contenders.append(Contender(label, Request(url, headers=bearer), CONNECTIONS))
            sql, args = list_sql(who.user_id, None, q=WORD)
            plan = cluster.explain(DATABASE, sql, *args, user_id=who.user_id)
            plans.append(f"#### {label}, q={WORD}\n\n```\n{plan}\n```\n")
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="search")
    for percentile in ("p50", "p99"):
        for label, r in runs.items():
            record_latency(result, label, r, percentile)
    fill_ratio(
        result.add_ratio(f"p99, {heavy_label} ÷ {LIGHT}", target=Target("<=", 1.5)),
        [r.p99_ms for r in runs[heavy_label]],
        [r.p99_ms for r in runs[LIGHT]],
    )
    fill_ratio(
        result.add_ratio(f"p50, {heavy_label} ÷ {LIGHT}"),
        [r.p50_ms for r in runs[heavy_label]],
        [r.p50_ms for r in runs[LIGHT]],
    )
    result.details = (
        f"EXPLAIN (ANALYZE, BUFFERS) of the search (`q={WORD}`, first page) the service "
        "builds, run as the API runs it (role `tandem_app`, row-level security on, "
        "`app.user_id` set), warm, with the same bind parameters.\n\n" + "\n".join(plans)
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return 1 + steps(2, budget)


BENCHMARK = Benchmark("search", _steps, run)
