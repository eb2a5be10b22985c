"""The run's reports: `report.json` (everything), `summary.md` (for a pull request), `report.html` (to open).

The HTML file is self-contained: its styles and charts are in the file, it loads nothing,
so it opens from a CI artifact or an e-mail with no network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from service.eval.charts import Bar, bar_chart
from service.eval.measures import MEASURES, Figures, Measure, format_value
from service.eval.runner import ItemResult
from service.eval.thresholds import Verdict
from service.registry import Persona

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMAT = 1
CRITERIA = ("judgement_over_summary", "concreteness", "calibration", "faithfulness")


class AgentView(msgspec.Struct, frozen=True):
    id: str
    callsign: str
    name: str


class SuiteView(msgspec.Struct, frozen=True):
    name: str
    path: str
    description: str
    items: int


class StoreView(msgspec.Struct, frozen=True):
    since: str | None
    label: str | None
    limit: int
    items: int
    skipped_without_text: int


class VersionView(msgspec.Struct, frozen=True):
    version: str
    sha256: str
    labels: list[str]
    changelog: str
    baseline: bool
    figures: Figures


class MeasureView(msgspec.Struct, frozen=True):
    name: str
    label: str
    better: str | None
    format: str
    description: str


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    format: int = FORMAT
    agent: AgentView
    mode: str
    """`offline` (recorded exchanges), `live`, or `record` (live, keeping the exchanges)."""
    provider: str
    started_at: dt.datetime
    seconds: float
    suites: list[SuiteView]
    from_store: StoreView | None
    judge: str | None
    baseline: str | None
    fail_on: str | None
    failed: bool
    verdicts: list[Verdict]
    faults: int
    """Items with no assessment (a provider fault, a refusal, an answer still invalid, a missing recording)."""
    cassette_misses: int | None
    prices: str
    measures: list[MeasureView]
    versions: list[VersionView]
    items: list[ItemResult]


@dataclass(frozen=True, slots=True)
class Written:
    json: Path
    markdown: Path
    html: Path


def version_views(
    persona: Persona, versions: list[str], figures: dict[str, Figures], baseline: str | None
) -> list[VersionView]:
    labels: dict[str, list[str]] = {}
    for label, version in persona.spec.labels.items():
        labels.setdefault(version, []).append(label)
    for label, rollout in persona.spec.rollouts.items():
        labels.setdefault(rollout.version, []).append(f"{label} {rollout.percent:g} %")
    return [
        VersionView(
            version=v,
            sha256=persona.versions[v].sha256,
            labels=labels.get(v, []),
            changelog=persona.versions[v].spec.changelog,
            baseline=v == baseline,
            figures=figures[v],
        )
        for v in versions
    ]


def measure_views(judged: bool) -> list[MeasureView]:
    return [MeasureView(m.name, m.label, m.better, m.format, m.description) for m in MEASURES if judged or not m.judge]


def write_reports(report: RunReport, out: Path) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    written = Written(out / "report.json", out / "summary.md", out / "report.html")
    encoded = msgspec.json.encode(report)
    written.json.write_bytes(msgspec.json.format(encoded, indent=2) + b"\n")
    written.markdown.write_text(markdown(report), encoding="utf-8")
    written.html.write_text(html(report), encoding="utf-8")
    return written


def _measures(report: RunReport) -> list[Measure]:
    names = {m.name for m in report.measures}
    return [m for m in MEASURES if m.name in names]


def _version_label(view: VersionView) -> str:
    extra = [*view.labels, *(["baseline"] if view.baseline else [])]
    return f"{view.version} ({', '.join(extra)})" if extra else view.version


def markdown(report: RunReport) -> str:
    agent = report.agent
    lines = [
        f"# {agent.callsign} eval: {', '.join(v.version for v in report.versions)}",
        "",
        f"{agent.name} · {report.mode} · {report.provider} · {len(report.items)} runs "
        f"({len(report.items) // max(len(report.versions), 1)} items x {len(report.versions)} versions) · "
        f"{report.seconds:.1f} s · {report.started_at:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    if report.fail_on:
        verdict = "**FAILED**" if report.failed else "passed"
        lines += [f"Thresholds `{report.fail_on}`: {verdict}", ""]
        lines += [f"- {v.said}" for v in report.verdicts]
        lines.append("")
    if report.faults:
        lines += [f"{report.faults} run(s) produced no assessment; see the table below.", ""]
    header = ["measure", *(_version_label(v) for v in report.versions)]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    baseline = next((v for v in report.versions if v.baseline), None)
    for measure in _measures(report):
        cells = [measure.label]
        for view in report.versions:
            value = view.figures.get(measure.name)
            cell = format_value(measure, value)
            if baseline is not None and view is not baseline and value is not None:
                base = baseline.figures.get(measure.name)
                if base is not None and value != base:
                    cell += f" ({_signed(measure, value - base)})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Items", "", "| item | " + " | ".join(v.version for v in report.versions) + " |"]
    lines.append("|" + " --- |" * (len(report.versions) + 1))
    by_key = {(r.suite, r.item, r.version): r for r in report.items}
    for suite, item in dict.fromkeys((r.suite, r.item) for r in report.items):
        cells = [f"{suite}/{item}"]
        for view in report.versions:
            result = by_key.get((suite, item, view.version))
            cells.append(_item_cell(result) if result else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Prices: {report.prices}. Latency offline is the replay's, not the model's." if
              report.mode == "offline" else f"Prices: {report.prices}.", ""]  # fmt: skip
    return "\n".join(lines)


def _signed(measure: Measure, difference: float) -> str:
    if measure.format == "share":
        return f"{difference * 100:+.0f} pts"
    return "+" + format_value(measure, difference) if difference > 0 else "−" + format_value(measure, -difference)


def _item_cell(result: ItemResult) -> str:
    if not result.ok:
        return f"✗ {result.outcome}"
    notes = []
    if result.reasks:
        notes.append(f"{result.reasks} re-ask")
    checks = result.checks
    if checks is not None:
        if checks.unverified_quotations:
            notes.append(f"{len(checks.unverified_quotations)} quote not in item")
        if checks.missed:
            notes.append("missed " + ", ".join(checks.missed))
        if checks.forbidden:
            notes.append("said " + ", ".join(checks.forbidden))
        if not checks.echo_in_language:
            notes.append("echo language")
        if not checks.title_callsign:
            notes.append("no callsign")
    if result.judge is not None:
        scores = [result.judge[criterion]["score"] for criterion in CRITERIA]
        notes.append(f"judge {sum(scores) / len(scores):.1f}")
    elif result.judge_outcome is not None:
        notes.append(f"judge {result.judge_outcome}")
    return "✓" + (" " + "; ".join(notes) if notes else "")


@cache
def _template() -> Template:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("eval_report.html.j2")


def html(report: RunReport) -> str:
    baseline = next((v for v in report.versions if v.baseline), None)
    charts = []
    for measure in _measures(report):
        if measure.name == "items":
            continue
        bars = [Bar(_version_label(v), v.figures.get(measure.name), v.baseline) for v in report.versions]
        base = baseline.figures.get(measure.name) if baseline else None
        charts.append({"measure": measure, "svg": bar_chart(measure, bars, base)})
    by_key = {(r.suite, r.item, r.version): r for r in report.items}
    rows: list[dict[str, Any]] = [
        {"key": f"{suite}/{item}", "cells": [by_key.get((suite, item, v.version)) for v in report.versions]}
        for suite, item in dict.fromkeys((r.suite, r.item) for r in report.items)
    ]
    return _template().render(
        report=report,
        charts=charts,
        rows=rows,
        version_label=_version_label,
        item_cell=_item_cell,
        format_value=format_value,
    )
