"""Balancer: the list route through HAProxy (the configuration `make cluster` renders) with one
and with two API instances behind it, and straight from one instance, for the latency the
load balancer adds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tandem_stack.haproxy import Balancer, render

from bench.budget import Budget
from bench.context import (
    Benchmark,
    Context,
    fill_difference,
    fill_ratio,
    record_runs,
    socket_error_note,
)
from bench.load import Contender, Request, alternate, steps
from bench.results import BenchResult
from bench.servers import Server, base_url, free_port, serving

DIRECT = "1 instance, direct"
ONE = "HAProxy, 1 instance"
TWO = "HAProxy, 2 instances"
# The latency HAProxy adds, measured without queueing: one request at a time.
DIRECT_ALONE = "1 instance, direct, 1 connection"
ONE_ALONE = "HAProxy, 1 instance, 1 connection"


def _haproxy(name: str, api_ports: list[int], directory: Path, log_dir: Path) -> tuple[Server, str]:
    port = free_port()
    balancer = Balancer(
        web_port=free_port(), api_port=port, web_instances=[], api_instances=api_ports
    )
    config = directory / f"{name}.cfg"
    config.write_text(render(balancer, stats_socket=directory / f"{name}.sock"), encoding="utf-8")
    program = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin") or "haproxy"
    server = Server(
        name, [program, "-db", "-f", str(config)], cwd=directory, env=dict(os.environ),
        log_dir=log_dir, ready_url=f"{base_url(port)}/health",
    )  # fmt: skip
    return server, base_url(port)


def run(ctx: Context) -> BenchResult:
    budget, stack = ctx.budget, ctx.stack
    first = stack.main_api
    second = stack.api("api-balanced-2", database=first.database)
    probe = stack.population.probe
    path = f"/api/{probe.user_id}/tasks"
    bearer = {"Authorization": f"Bearer {stack.key.token(probe)}"}
    connections = budget.throughput_connections
    result = BenchResult(
        "balancer",
        "Balancer: the list route through HAProxy with 1 and 2 API instances",
        f"GET the first page (50 tasks) under {connections} connections (and 1, for the latency "
        f"HAProxy adds): straight from one API "
        f"instance, and through HAProxy (stack/src/tandem_stack/haproxy.cfg.template, a new "
        f"server connection per request) in front of one and of two instances on the same "
        f"database, on a machine with {os.cpu_count()} CPUs shared with PostgreSQL, HAProxy "
        f"and wrk.",
    )
    ctx.progress.status("balancer: starting a second instance and HAProxy")
    directory = stack.log_dir
    one, one_url = _haproxy("haproxy-1", [first.port], directory, stack.log_dir)
    two, two_url = _haproxy("haproxy-2", [first.port, second.port], directory, stack.log_dir)
    with serving(second.server, one, two):
        contenders = [
            Contender(DIRECT, Request(first.url + path, headers=bearer), connections),
            Contender(ONE, Request(one_url + path, headers=bearer), connections),
            Contender(TWO, Request(two_url + path, headers=bearer), connections),
            Contender(DIRECT_ALONE, Request(first.url + path, headers=bearer), 1),
            Contender(ONE_ALONE, Request(one_url + path, headers=bearer), 1),
        ]
        runs = alternate(contenders, budget=budget, progress=ctx.progress, name="balancer")
    rates = record_runs(result, runs)
    fill_ratio(
        result.add_ratio("2 instances ÷ 1 instance throughput (through HAProxy)"),
        rates[TWO].values,
        rates[ONE].values,
    )
    fill_difference(
        result.add_ratio("latency HAProxy adds at p50, one connection", unit="ms"),
        [run.p50_ms for run in runs[ONE_ALONE]],
        [run.p50_ms for run in runs[DIRECT_ALONE]],
    )
    result.notes.extend(socket_error_note(runs))
    return result


def _steps(budget: Budget) -> int:
    return steps(5, budget)


BENCHMARK = Benchmark("balancer", _steps, run)
