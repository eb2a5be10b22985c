"""`attache eval AGENT`: run suites through versions of a persona and report, offline, live or recording.

Exit status: 0 when the run finished and no `--fail-on` rule failed; 1 when one did (a
regression); 2 for bad input (an unknown agent or version, a malformed suite, a bad rule,
no provider for a live run). A provider fault during the run is not bad input: it is that
item's outcome, reported, and the run goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import msgspec

from schemas import SCHEMAS
from service.errors import AttacheError
from service.eval.judge import Judge, find_judge
from service.eval.measures import figures
from service.eval.prices import PricesInvalid, PriceTable
from service.eval.replay import CassetteProvider, Recording
from service.eval.report import AgentView, RunReport, StoreView, SuiteView, measure_views, version_views, write_reports
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


class BadInput(click.ClickException):
    """Exit 2 with the message: what was wrong with the command's input."""

    exit_code = BAD_INPUT


@click.command("eval")
@click.argument("agent")
@click.option("--versions", help="Versions or labels, comma-separated (default: every published version).")
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(path_type=Path),
    help=f"A suite file or a folder of them (default: registry/AGENT/{EVALS_DIR}/).",
)
@click.option("--from-store", is_flag=True, help="Replay the inputs callers sent AGENT, from the store.")
@click.option("--since", help="With --from-store: sent at or after this date or time (ISO 8601, UTC).")
@click.option("--label", help="With --from-store: only requests that asked for this label.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="With --from-store.")
@click.option("--offline", is_flag=True, help="Answer from the recorded exchanges (deterministic; what CI runs).")
@click.option(
    "--cassettes",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CASSETTES,
    show_default=True,
    help="With --offline: the folder of recorded exchanges (AGENT/ inside it).",
)
@click.option(
    "--record",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run live and keep every exchange under DIR/AGENT/<version>.yaml, for --offline runs.",
)
@click.option(
    "--judge",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ID[@VERSION]]",
    help="Score every assessment with a judge persona (default: the registry's judge).",
)
@click.option("--baseline", help="The version the others are compared with (and relative rules measured from).")
@click.option("--fail-on", "fail_on", help='Rules that fail the run, e.g. "first_attempt_valid<0.95,reasks>+10%".')
@click.option(
    "--prices", type=click.Path(dir_okay=False, path_type=Path), help="A YAML price table (USD per 1M tokens)."
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Items at once.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Report folder (default: a new one here)."
)
@click.option(
    "--registry-dir", type=click.Path(file_okay=False, path_type=Path), help="Registry folder (default: configured)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every provider call (JSON lines on stderr).")
def eval_command(agent: str, **options: Any) -> None:
    """Run eval suites through versions of AGENT's prompt and report the measures of each.

    \b
    attache eval jp-01 --versions 1.0.0,1.1.0 --offline
    attache eval jp-01 --versions stable,1.1.0 --baseline stable --fail-on "first_attempt_valid<0.95,reasks>+10%"
    attache eval jp-01 --versions 1.1.0 --from-store --since 2026-11-01 --label stable --judge
    """
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    settings = _settings(options["registry_dir"], verbose=options["verbose"])
    registry = _registry(settings)
    persona = _persona(registry, agent)
    versions = _versions(persona, options["versions"])
    baseline = _resolve(persona, options["baseline"]).version if options["baseline"] else None
    if baseline is not None and baseline not in {v.version for v in versions}:
        versions.insert(0, persona.versions[baseline])
    judge = _judge(registry, options["judge"])
    try:
        rules = parse_rules(options["fail_on"], baseline=baseline, judged=judge is not None)
    except RuleInvalid as exc:
        raise BadInput(f"--fail-on: {exc}") from None
    prices = _prices(options["prices"])
    mode = "record" if options["record"] else "offline" if options["offline"] else "live"
    if options["record"] and options["offline"]:
        raise BadInput("--record runs live: it cannot be combined with --offline")
    if mode != "offline" and not settings.provider_configured:
        raise BadInput("no provider configured: set OPENAI_API_KEY or OPENAI_BASE_URL, or run --offline")
    suites, stored = _items(persona, settings, options)
    items = [item for suite in suites for item in suite.items] + (stored.items if stored else [])
    if not items:
        raise BadInput("no items to run: the suites are empty and the store holds no replayable input")
    out = options["out"] or Path.cwd() / f"eval-{persona.id}-{started_at:%Y%m%dT%H%M%SZ}"

    if mode == "offline" and not (options["cassettes"] / persona.id).is_dir():
        raise BadInput(f"--offline: no recorded exchanges for {persona.id} in {options['cassettes'] / persona.id}")
    recording = None
    if options["record"]:
        upstream = settings.openai_base_url or "https://api.openai.com/v1"
        recording = Recording(options["record"], _recording_note(upstream, started_at))
    plan = Plan(persona, versions, items, judge, options["concurrency"], recording)
    click.echo(
        f"{persona.spec.callsign}: {len(items)} items x {len(versions)} versions "
        f"({', '.join(v.version for v in versions)}), {mode}" + (f", judged by {judge.ref}" if judge else ""),
        err=True,
    )
    results, provider_name, misses = asyncio.run(
        _run(plan, registry, settings, prices, mode, options["cassettes"] / persona.id, recording)
    )
    if recording is not None:
        for path in recording.write():
            click.echo(f"recorded {path}", err=True)

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
            options["since"], options["label"], options["limit"], len(stored.items), stored.skipped_without_text
        )
        if stored
        else None,
        judge=judge.ref if judge else None,
        baseline=baseline,
        fail_on=options["fail_on"],
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
    click.echo((out / "summary.md").read_text(encoding="utf-8"))
    click.echo(f"reports: {written.html}  {written.markdown}  {written.json}", err=True)
    if misses:
        click.echo(
            f"{misses} prompt(s) had no recorded exchange in {options['cassettes'] / persona.id}: "
            "the prompts changed since they were recorded; record them again with --record",
            err=True,
        )
    if failed:
        click.echo("thresholds failed: " + "; ".join(v.said for v in verdicts if v.failed), err=True)
        sys.exit(REGRESSION)


async def _run(
    plan: Plan,
    registry: Registry,
    settings: Settings,
    prices: PriceTable,
    mode: str,
    cassettes: Path,
    recording: Recording | None,
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
            results = await _with_progress(plan, mode, run)
        finally:
            await provider.close()
    if mode == "offline":
        assert replay is not None  # noqa: S101 - offline always replays
        return results, f"recorded exchanges in {cassettes} ({len(replay.files)} files)", replay.misses
    host = urlsplit(upstream).hostname or upstream
    return results, f"{provider.provider_name} at {host}" + (" (recording)" if mode == "record" else ""), None


async def _with_progress(plan: Plan, mode: str, run: Callable[[Callable[[ItemResult], None]], Any]) -> Any:
    """A progress bar on the terminal for live runs (an offline run takes seconds)."""
    if mode == "offline" or not sys.stderr.isatty():
        return await run(lambda result: None)
    with click.progressbar(length=plan.size, label="assessing", file=sys.stderr, show_pos=True) as bar:
        faults = 0

        def done(result: ItemResult) -> None:
            nonlocal faults
            faults += not result.ok
            noted = f", {faults} fault{'s' if faults != 1 else ''}" if faults else ""
            bar.label = f"assessing ({result.version} {result.suite}/{result.item}{noted})"
            bar.update(1)

        return await run(done)


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


def _items(persona: Persona, settings: Settings, options: dict[str, Any]) -> tuple[list[Suite], StoreItems | None]:
    suite_path: Path | None = options["suite_path"]
    suites: list[Suite] = []
    if suite_path is not None or not options["from_store"]:
        path = suite_path or persona.path / EVALS_DIR
        try:
            suites = load_suites(path)
        except SuiteInvalid as exc:
            raise BadInput(f"malformed suite:\n{exc}") from None
    stored = None
    if options["from_store"]:
        since = _since(options["since"])
        try:
            stored = asyncio.run(
                items_from_store(settings, persona.id, since=since, label=options["label"], limit=options["limit"])
            )
        except StoreNotReadable as exc:
            raise BadInput(f"--from-store: {exc}") from None
    elif options["since"] or options["label"]:
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
            "(tests/author_eval_cassettes.py): the answers were written for the test, not by a model."
        )
    return f"Recorded {at:%Y-%m-%d} by `attache eval --record` from {host}."
