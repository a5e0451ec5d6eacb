"""The report: `latest.md` (tables of medians with min and max, and ratios), `plans.md`,
and one PNG chart per benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.results import BenchResult, Series

PLANS = "plans.md"


@dataclass(frozen=True)
class RunInfo:
    started: str
    commit: str
    machine: str
    mode: str
    wall_seconds: float


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "–"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "×":
        return f"{value:.3f}"
    return f"{value:.2f}"


def _groups(series: Sequence[Series]) -> dict[str, list[Series]]:
    groups: dict[str, list[Series]] = {}
    for s in series:
        groups.setdefault(s.group, []).append(s)
    return groups


def _series_table(series: Sequence[Series]) -> list[str]:
    lines = ["| measure | median | min | max | unit |", "|---|--:|--:|--:|---|"]
    for s in series:
        lines.append(
            f"| {s.label} | {_number(s.median, s.unit)} | {_number(s.low, s.unit)} "
            f"| {_number(s.high, s.unit)} | {s.unit} |"
        )
    return lines


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[value]


def _ratio_table(result: BenchResult) -> list[str]:
    lines = ["| ratio | median | min | max | target | met |", "|---|--:|--:|--:|---|---|"]
    for ratio in result.ratios:
        s = ratio.series
        lines.append(
            f"| {ratio.label} | {_number(s.median, ratio.unit)} {ratio.unit} "
            f"| {_number(s.low, ratio.unit)} | {_number(s.high, ratio.unit)} "
            f"| {ratio.target or ''} | {_met(ratio.met)} |"
        )
    return lines


def _targets(results: Sequence[BenchResult]) -> list[str]:
    lines = [
        "| benchmark | ratio | median | min – max | target | met |",
        "|---|---|--:|---|---|---|",
    ]
    for result in results:
        for ratio in result.ratios:
            if ratio.target is None:
                continue
            s = ratio.series
            lines.append(
                f"| {result.title.split(':')[0]} | {ratio.label} "
                f"| {_number(s.median, ratio.unit)} {ratio.unit} "
                f"| {_number(s.low, ratio.unit)} – {_number(s.high, ratio.unit)} "
                f"| {ratio.target} | {_met(ratio.met)} |"
            )
    return lines


def markdown(results: Sequence[BenchResult], info: RunInfo) -> str:
    out = [
        "# Tandem benchmarks",
        "",
        f"Measured {info.started} at commit `{info.commit}`, on {info.machine}. "
        f"{info.mode} The run took {info.wall_seconds / 60:.1f} min.",
        "",
        "Every figure is the median over rounds, with the minimum and maximum beside it. "
        "Contenders alternate within each round, and each ratio is computed within its "
        "round before it is summarised, so both sides of a ratio share that round's noise. "
        "What each benchmark measures, and how to read it: `bench/README.md`.",
        "",
        "## Targets",
        "",
        *_targets(results),
        "",
    ]
    for result in results:
        out += [f"## {result.title}", "", result.summary, ""]
        if result.skipped:
            out += [f"Skipped: {result.skipped}.", ""]
            continue
        for group, series in _groups(result.series).items():
            out += [f"**{group}**", "", *_series_table(series), ""]
        if result.ratios:
            out += ["**Ratios**", "", *_ratio_table(result), ""]
        out += [f"![{result.title}]({result.name}.png)", ""]
        if result.details:
            out += [f"Query plans: [{PLANS}]({PLANS}#{result.name}).", ""]
        out += [f"- {note}" for note in result.notes]
        if result.notes:
            out.append("")
    return "\n".join(out)


def plans_markdown(results: Sequence[BenchResult], info: RunInfo) -> str:
    out = ["# Query plans", "", f"From the run of {info.started} (`latest.md`).", ""]
    for result in results:
        if result.details:
            out += [f'<a id="{result.name}"></a>', f"## {result.title}", "", result.details, ""]
    return "\n".join(out)


def chart(result: BenchResult, path: Path) -> None:
    """One horizontal bar panel per group (and per ratio unit): medians, min–max whiskers,
    and each ratio's target as a red tick."""
    panels = list(_groups(result.series).items())
    for unit in dict.fromkeys(r.unit for r in result.ratios):
        ratios = [r for r in result.ratios if r.unit == unit]
        panels.append((f"Ratios ({unit})", [r.series for r in ratios]))
    heights = [0.6 + 0.38 * len(series) for _, series in panels]
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, sum(heights) + 0.8),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (title, series) in zip(axes[:, 0], panels, strict=True):
        labels = [s.label for s in series]
        medians = [s.median for s in series]
        whiskers = [[s.median - s.low for s in series], [s.high - s.median for s in series]]
        positions = range(len(series))
        ax.barh(
            positions,
            medians,
            xerr=whiskers,
            color="#4c78a8",
            ecolor="#333333",
            capsize=3,
            height=0.6,
        )
        ax.set_yticks(list(positions), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlabel(series[0].unit if series else "", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        if title.startswith("Ratios"):
            for row, ratio in enumerate(r for r in result.ratios if r.series.label in labels):
                if ratio.target is not None:
                    ax.plot(
                        [ratio.target.bound],
                        [row],
                        marker="|",
                        color="#d62728",
                        markersize=16,
                        markeredgewidth=2,
                    )
    figure.suptitle(result.title, fontsize=11, x=0.01, ha="left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: Sequence[BenchResult], info: RunInfo, directory: Path) -> Path:
    """Write latest.md, plans.md and the charts into `directory`; returns latest.md's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for result in results:
        if not result.skipped and (result.series or result.ratios):
            chart(result, directory / f"{result.name}.png")
    if any(r.details for r in results):
        (directory / PLANS).write_text(plans_markdown(results, info), encoding="utf-8")
    latest = directory / "latest.md"
    latest.write_text(markdown(results, info), encoding="utf-8")
    return latest
