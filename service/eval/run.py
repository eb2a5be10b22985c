"""One eval run: suites (or stored inputs) through versions of a persona, measured and reported.

`run_eval(EvalOptions(...))` is the whole run, callable without click: it raises `BadInput`
for input it cannot start from (the CLI's exit 2) and returns whether a `--fail-on` rule
failed (exit 1). A provider fault during the run is not bad input: it is that item's
outcome, reported, and the run goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from schemas import SCHEMAS
from service.errors import AttacheError
from service.eval.judge import Judge, find_judge
from service.eval.measures import figures
from service.eval.prices import PricesInvalid, PriceTable
from service.eval.replay import CassetteProvider, Recording
from service.eval.report import (
    AgentView,
    RunReport,
    StoreView,
    SuiteView,
    Written,
    measure_views,
    version_views,
    write_reports,
)
from service.eval.runner import ItemResult, Plan, run_plan
from service.eval.store_items import StoreItems, StoreNotReadable, items_from_store
from service.eval.suite import Suite, SuiteInvalid, load_suites
from service.eval.thresholds import RuleInvalid, evaluate, parse_rules
from service.registry import Persona, PromptVersion, Registry, RegistryInvalid
from service.registry.load import EVALS_DIR
from service.registry.reload import load_snapshot
from service.settings import DEFAULT_REGISTRY_DIR, Settings, SettingsError

DEFAULT_CASSETTES = DEFAULT_REGISTRY_DIR.parent / "cassettes" / "eval"
OFFLINE_KEY = "sk-offline-replay-not-a-key"
REGRESSION, BAD_INPUT = 1, 2


Progress = Callable[["Plan", str, Callable[[Callable[[ItemResult], None]], Any]], Awaitable[Any]]
"""Runs the plan (the last argument) while showing its progress; the CLI's is a progress bar."""
Echo = Callable[[str, bool], None]
"""Prints a line; the flag says it is a note (standard error), not the summary."""


class BadInput(Exception):
    """Exit 2 with the message: what was wrong with the run's input."""

    exit_code = BAD_INPUT


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalOptions:
    """What `attache eval` was asked (its options, one field each, with the CLI's defaults)."""

    agent: str
    versions: str | None = None
    """Versions or labels, comma-separated; None: every published version."""
    suite_path: Path | None = None
    from_store: bool = False
    since: str | None = None
    label: str | None = None
    limit: int = 50
    offline: bool = False
    cassettes: Path = DEFAULT_CASSETTES
    record: Path | None = None
    judge: str | None = None
    """A judge reference; "" for the registry's judge; None: not judged."""
    baseline: str | None = None
    fail_on: str | None = None
    prices: Path | None = None
    concurrency: int = 4
    out: Path | None = None
    registry_dir: Path | None = None
    verbose: bool = False


@dataclass(frozen=True, slots=True)
class EvalOutcome:
    report: RunReport
    written: Written
    failed: bool
    """A `--fail-on` rule failed (exit 1)."""


def run_eval(
    options: EvalOptions, *, echo: Echo = lambda line, note: None, progress: Progress | None = None
) -> EvalOutcome:
    """Run, report and judge the rules; BadInput for input the run cannot start from."""
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    settings = _settings(options.registry_dir, verbose=options.verbose)
    registry = _registry(settings)
    persona = _persona(registry, options.agent)
    versions = _versions(persona, options.versions)
    baseline = _resolve(persona, options.baseline).version if options.baseline else None
    if baseline is not None and baseline not in {v.version for v in versions}:
        versions.insert(0, persona.versions[baseline])
    judge = _judge(registry, options.judge)
    try:
        rules = parse_rules(options.fail_on, baseline=baseline, judged=judge is not None)
    except RuleInvalid as exc:
        raise BadInput(f"--fail-on: {exc}") from None
    prices = _prices(options.prices)
    mode = "record" if options.record else "offline" if options.offline else "live"
    if options.record and options.offline:
        raise BadInput("--record runs live: it cannot be combined with --offline")
    if mode != "offline" and not settings.provider_configured:
        raise BadInput("no provider configured: set OPENAI_API_KEY or OPENAI_BASE_URL, or run --offline")
    suites, stored = _items(persona, settings, options)
    items = [item for suite in suites for item in suite.items] + (stored.items if stored else [])
    if not items:
        raise BadInput("no items to run: the suites are empty and the store holds no replayable input")
    out = options.out or Path.cwd() / f"eval-{persona.id}-{started_at:%Y%m%dT%H%M%SZ}"

    if mode == "offline" and not (options.cassettes / persona.id).is_dir():
        raise BadInput(f"--offline: no recorded exchanges for {persona.id} in {options.cassettes / persona.id}")
    recording = None
    if options.record:
        upstream = settings.openai_base_url or "https://api.openai.com/v1"
        recording = Recording(options.record, _recording_note(upstream, started_at))
    plan = Plan(persona, versions, items, judge, options.concurrency, recording)
    echo(
        f"{persona.spec.callsign}: {len(items)} items x {len(versions)} versions "
        f"({', '.join(v.version for v in versions)}), {mode}" + (f", judged by {judge.ref}" if judge else ""),
        True,
    )
    results, provider_name, misses = asyncio.run(
        _run(plan, registry, settings, prices, mode, options.cassettes / persona.id, recording, progress)
    )
    if recording is not None:
        for path in recording.write():
            echo(f"recorded {path}", True)

    judged = judge is not None
    by_version = {v.version: [r for r in results if r.version == v.version] for v in versions}
    per_version = {version: figures(found, judged=judged) for version, found in by_version.items()}
    verdicts = evaluate(rules, per_version, baseline)
    failed = any(v.failed for v in verdicts)
    report = RunReport(
        agent=AgentView(persona.id, persona.spec.callsign, persona.spec.name),
        mode=mode,
        provider=provider_name,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 2),
        suites=[SuiteView(s.name, str(s.path), s.description, len(s.items)) for s in suites],
        from_store=StoreView(
            options.since, options.label, options.limit, len(stored.items), stored.skipped_without_text
        )
        if stored
        else None,
        judge=judge.ref if judge else None,
        baseline=baseline,
        fail_on=options.fail_on,
        failed=failed,
        verdicts=verdicts,
        faults=sum(not r.ok for r in results),
        cassette_misses=misses,
        prices=prices.source,
        measures=measure_views(judged),
        versions=version_views(persona, [v.version for v in versions], per_version, baseline),
        items=results,
    )
    written = write_reports(report, out)
    echo((out / "summary.md").read_text(encoding="utf-8"), False)
    echo(f"reports: {written.html}  {written.markdown}  {written.json}", True)
    if misses:
        echo(
            f"{misses} prompt(s) had no recorded exchange in {options.cassettes / persona.id}: "
            "the prompts changed since they were recorded; record them again with --record",
            True,
        )
    if failed:
        echo("thresholds failed: " + "; ".join(v.said for v in verdicts if v.failed), True)
    return EvalOutcome(report=report, written=written, failed=failed)


async def _run(
    plan: Plan,
    registry: Registry,
    settings: Settings,
    prices: PriceTable,
    mode: str,
    cassettes: Path,
    recording: Recording | None,
    progress: Progress | None,
) -> tuple[list[ItemResult], str, int | None]:
    from service.provider.client import ModelProvider  # the openai SDK: imported only to run

    upstream = settings.openai_base_url or "https://api.openai.com/v1"
    loopback: AbstractAsyncContextManager[CassetteProvider | None] = nullcontext()
    if mode == "offline":
        loopback = CassetteProvider(cassettes)
    elif mode == "record":
        loopback = CassetteProvider(upstream=upstream, recording=recording)
    async with loopback as replay:
        if replay is not None:
            key = OFFLINE_KEY if mode == "offline" else settings.openai_api_key
            settings = msgspec.structs.replace(settings, openai_base_url=replay.base_url, openai_api_key=key)
        provider = ModelProvider(settings, known_models=registry.model_names)
        provider.warm_up(list(SCHEMAS.values()))  # the assessment and the judge's rubric

        def run(done: Callable[[ItemResult], None]) -> Any:
            return run_plan(plan, registry=registry, provider=provider, settings=settings, prices=prices, done=done)

        try:
            results = await (progress(plan, mode, run) if progress else run(lambda result: None))
        finally:
            await provider.close()
    if mode == "offline":
        assert replay is not None  # noqa: S101 - offline always replays
        return results, f"recorded exchanges in {cassettes} ({len(replay.files)} files)", replay.misses
    host = urlsplit(upstream).hostname or upstream
    return results, f"{provider.provider_name} at {host}" + (" (recording)" if mode == "record" else ""), None


def _settings(registry_dir: Path | None, *, verbose: bool) -> Settings:
    from service.logs import configure_logging

    try:
        settings = Settings.from_env(registry_dir=str(registry_dir) if registry_dir else None)
    except SettingsError as exc:
        raise BadInput(str(exc)) from None
    configure_logging("info" if verbose else "warning", stream=sys.stderr)
    return settings


def _registry(settings: Settings) -> Registry:
    try:
        return load_snapshot(settings.registry_path, cache_dir=settings.cache_path)
    except RegistryInvalid as exc:
        raise BadInput(str(exc)) from None


def _persona(registry: Registry, agent: str) -> Persona:
    try:
        persona = registry.persona(agent)
    except AttacheError as exc:
        raise BadInput(exc.detail) from None
    if persona.spec.role != "desk":
        raise BadInput(
            f"{persona.id} is a {persona.spec.role} persona; evaluate a desk (and pass --judge {persona.id})"
        )
    return persona


def _resolve(persona: Persona, ref: str) -> PromptVersion:
    try:
        prompt, _ = persona.resolve(ref)
    except AttacheError as exc:
        raise BadInput(exc.detail) from None
    return prompt


def _versions(persona: Persona, refs: str | None) -> list[PromptVersion]:
    if not refs:
        return list(persona.versions.values())
    chosen: dict[str, PromptVersion] = {}
    for ref in (r.strip() for r in refs.split(",")):
        if ref:
            prompt = _resolve(persona, ref)
            chosen.setdefault(prompt.version, prompt)
    if not chosen:
        raise BadInput("--versions names no version")
    return list(chosen.values())


def _judge(registry: Registry, ref: str | None) -> Judge | None:
    if ref is None:
        return None
    try:
        return find_judge(registry, ref or None)
    except AttacheError as exc:
        raise BadInput(f"--judge: {exc.detail}") from None


def _prices(path: Path | None) -> PriceTable:
    if path is None:
        return PriceTable.default()
    try:
        return PriceTable.from_file(path)
    except PricesInvalid as exc:
        raise BadInput(f"--prices: {exc}") from None


def _items(persona: Persona, settings: Settings, options: EvalOptions) -> tuple[list[Suite], StoreItems | None]:
    suite_path: Path | None = options.suite_path
    suites: list[Suite] = []
    if suite_path is not None or not options.from_store:
        path = suite_path or persona.path / EVALS_DIR
        try:
            suites = load_suites(path)
        except SuiteInvalid as exc:
            raise BadInput(f"malformed suite:\n{exc}") from None
    stored = None
    if options.from_store:
        since = _since(options.since)
        try:
            stored = asyncio.run(
                items_from_store(settings, persona.id, since=since, label=options.label, limit=options.limit)
            )
        except StoreNotReadable as exc:
            raise BadInput(f"--from-store: {exc}") from None
    elif options.since or options.label:
        raise BadInput("--since and --label filter --from-store")
    return suites, stored


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"--since: {value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _recording_note(upstream: str, at: dt.datetime) -> str:
    host = urlsplit(upstream).hostname or upstream
    if host in ("127.0.0.1", "localhost"):
        return (
            "Authored by `attache eval --record` against a stand-in provider on loopback "
            "(tools/author_eval_cassettes.py): the answers were written for the test, not by a model."
        )
    return f"Recorded {at:%Y-%m-%d} by `attache eval --record` from {host}."
