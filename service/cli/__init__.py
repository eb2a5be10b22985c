"""The `attache` command: serve the API, list personas, and check, lock and diff the registry."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from service.registry import RegistryInvalid, load_registry
from service.registry.spec import Rollout
from service.settings import Settings, SettingsError


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _registry_dir_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--registry-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Registry folder (default: $ATTACHE_REGISTRY_DIR, else the repository's registry/).",
    )(f)


def _load(registry_dir: Path | None, *, check_lock: bool = True):  # type: ignore[no-untyped-def]
    settings = _settings(registry_dir=str(registry_dir) if registry_dir else None)
    try:
        return load_registry(settings.registry_path, check_lock=check_lock, cache_dir=settings.cache_path)
    except RegistryInvalid as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _check_keys(settings: Settings) -> None:
    """Refuse to start on a key source that is missing, unreadable, empty or weak (before any worker)."""
    from service.access.keys import configured_keys
    from service.app import check_fleet

    try:
        configured_keys(settings)
        check_fleet(settings)
        settings.trusted_proxy_list  # noqa: B018 - checked for its errors
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _prepare_store(settings: Settings, *, required: bool = False) -> str | None:
    """Bring the store's schema to this release's head; exit naming the problem if it cannot be.

    An unreachable database stops only `attache db upgrade` (`required`); `serve` starts
    without it (plain assessments are still answered) and keeps trying.
    """
    import asyncio

    from service.store.database import (
        OFF,
        StoreSchemaError,
        create_engine,
        database_url,
        describe,
        prepare_schema,
    )

    try:
        url = database_url(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if url == OFF:
        if required:
            raise click.ClickException("ATTACHE_DATABASE_URL is `off`: there is no store to upgrade")
        return None

    async def run() -> str:
        engine = create_engine(url, pool_size=1)
        try:
            async with asyncio.timeout(60):
                return await prepare_schema(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except StoreSchemaError as exc:
        raise click.ClickException(f"{describe(url)}: {exc}") from None
    except Exception as exc:
        if required:
            raise click.ClickException(f"{describe(url)}: cannot reach the database ({type(exc).__name__})") from None
        click.echo(f"warning: {describe(url)} cannot be reached ({type(exc).__name__}); starting without it", err=True)
        return None


class _Commands(click.Group):
    """`attache`'s commands; `eval` (a heavier module) is imported only when it is asked for."""

    LAZY = {"eval": "service.cli.eval:eval_command"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            import importlib

            module, _, attribute = self.LAZY[name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_Commands)
@click.version_option(package_name="attache")
def main() -> None:
    """Attaché: analyst personas answer news items as typed JSON."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: $ATTACHE_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: $ATTACHE_PORT or 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: $ATTACHE_WORKERS or 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API (uvicorn; several workers share one port and one /metrics)."""
    import uvicorn

    from service.logs import configure_logging

    settings = _settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    registry = _load(None)  # fail fast, with the registry's own messages, before any worker starts
    _check_keys(settings)
    _prepare_store(settings)  # once, before the workers: they would race to migrate a new SQLite file
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # our JSON logging, configured in every process
        "access_log": False,  # one `request` line per request comes from the app itself
        "timeout_graceful_shutdown": settings.drain_seconds,  # SIGTERM: stop accepting, drain, exit
        "proxy_headers": False,  # X-Forwarded-For is believed only from ATTACHE_TRUSTED_PROXIES (create_app)
    }
    from service.serving.multiprocess import ENV, prepare_metrics_dir, start_metrics_server

    if settings.workers > 1 or os.environ.get(ENV):
        prepare_metrics_dir()  # before any worker (or this process) creates a metric
    if settings.metrics_port:
        start_metrics_server(settings.host, settings.metrics_port)
    import signal

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the app's handler reloads the registry on it
    if settings.workers == 1:
        from service.app import create_app

        uvicorn.run(create_app(settings, registry=registry), **options)
        return
    from service.serving.supervisor import run_workers

    run_workers(uvicorn.Config("service.app:create_worker_app", factory=True, workers=settings.workers, **options))


@main.command()
@_registry_dir_option
def agents(registry_dir: Path | None) -> None:
    """List the personas in the registry."""
    registry = _load(registry_dir)
    rows = [("ID", "CALLSIGN", "NAME", "COUNTRY", "LANG", "LABELS", "VERSIONS", "ROLE")]
    for p in registry.personas.values():
        labels = " ".join(f"{k}={v}{_rollout_note(p.spec.rollouts.get(k))}" for k, v in p.spec.labels.items())
        rows.append(
            (
                p.id,
                p.spec.callsign,
                p.spec.name,
                p.spec.country,
                p.spec.language,
                labels,
                " ".join(p.versions),
                p.spec.role,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _rollout_note(rollout: Rollout | None) -> str:
    """`stable=1.0.0(10%→1.1.0)`: the label and the share rolling out to another version."""
    return f"({rollout.percent:g}%→{rollout.version})" if rollout else ""


@main.group()
def registry() -> None:
    """Check, lock and diff the prompt registry."""


@registry.command()
@_registry_dir_option
def check(registry_dir: Path | None) -> None:
    """Validate every file, template, label, roll-out, lock entry and eval suite; exit 1 naming each problem."""
    from service.eval.suite import SuiteInvalid, load_suites
    from service.registry.load import EVALS_DIR

    loaded = _load(registry_dir)
    suites, problems = 0, []
    for persona in loaded.personas.values():
        if (persona.path / EVALS_DIR).is_dir():
            try:
                suites += len(load_suites(persona.path / EVALS_DIR))
            except SuiteInvalid as exc:
                problems += exc.problems
    if problems:
        click.echo(f"eval suites in {loaded.root} are invalid ({len(problems)} problem(s)):", err=True)
        click.echo("\n".join(f"  {p}" for p in problems), err=True)
        sys.exit(1)
    click.echo(
        f"registry {loaded.root} is valid: {len(loaded.personas)} personas, "
        f"{loaded.version_count} versions, {suites} eval suites, lock {loaded.lock_digest[:12]}"
    )


@registry.command()
@_registry_dir_option
def lock(registry_dir: Path | None) -> None:
    """Add new versions to registry.lock; never rewrite an existing entry."""
    from service.registry.lock import read_lock, write_lock

    loaded = _load(registry_dir, check_lock=False)
    current = read_lock(loaded.root)
    entries = dict(current.entries)
    added, changed = [], []
    for persona in loaded.personas.values():
        for prompt in persona.versions.values():
            rel = f"{persona.id}/{prompt.path.name}"
            if rel not in entries:
                entries[rel] = prompt.sha256
                added.append(rel)
            elif entries[rel] != prompt.sha256:
                changed.append(rel)
    if changed:
        for rel in changed:
            click.echo(
                f"{loaded.root / rel}: published version changed since it was locked; refusing to rewrite "
                "its entry. Restore the file and publish a new version instead.",
                err=True,
            )
        sys.exit(1)
    if not added:
        click.echo("registry.lock is up to date")
        return
    write_lock(loaded.root, type(current)(entries))
    for rel in added:
        click.echo(f"locked {rel} {entries[rel]}")


@registry.command()
@_registry_dir_option
@click.argument("agent")
@click.argument("old")
@click.argument("new")
def diff(registry_dir: Path | None, agent: str, old: str, new: str) -> None:
    """Unified diff of two versions (or labels) of AGENT's prompt."""
    from service.errors import AttacheError
    from service.registry.diff import diff_versions

    loaded = _load(registry_dir, check_lock=False)
    try:
        persona = loaded.persona(agent)
        before, _ = persona.resolve(old)
        after, _ = persona.resolve(new)
    except AttacheError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("".join(diff_versions(before, after)), nl=False)


@main.group()
def db() -> None:
    """The assessment store: SQLite in ATTACHE_DATA_DIR, or ATTACHE_DATABASE_URL."""


@db.command()
def upgrade() -> None:
    """Migrate the store to this release's schema (start-up does it too; a chart runs it as a hook)."""
    from service.store.database import HEAD, database_url, describe

    settings = _settings()
    revision = _prepare_store(settings, required=True)
    click.echo(f"{describe(database_url(settings))} is at migration {revision} (this release's head: {HEAD})")


@main.command()
def settings() -> None:
    """Print every setting as the README's Markdown table."""
    from service.settings import settings_table

    click.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for variable, default, description in settings_table():
        click.echo(f"| `{variable}` | {default} | {description} |")


@main.command()
@click.option("--agent", required=True, help="`jp-01`, `jp-01@1.0.0` or `jp-01@stable`.")
@click.option(
    "--context-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the news excerpt ('-' is not supported: pass a file).",
)
@click.option("--question", default=None, help="Defaults to the prompt version's question.")
@click.option("--source", default=None, help="Where the excerpt comes from, e.g. CSPAN.")
@click.option("--as-of", "as_of", default=None, help="The date the assessment treats as today (YYYY-MM-DD).")
@click.option("--markdown", is_flag=True, help="Print the assessment in the sample's layout instead of JSON.")
def assess(
    agent: str, context_file: Path, question: str | None, source: str | None, as_of: str | None, markdown: bool
) -> None:
    """Run one assessment through the same code path as POST /assess."""
    import asyncio

    import msgspec

    from service.assessment.complete import run_assessment
    from service.assessment.markdown import render_markdown
    from service.assessment.request import AssessRequest
    from service.errors import AttacheError
    from service.logs import configure_logging
    from service.provider.client import ModelProvider

    settings = _settings()
    configure_logging(settings.log_level, stream=sys.stderr)
    loaded = _load(None)
    try:
        request = msgspec.convert(
            {
                "agent": agent,
                "context": context_file.read_text(encoding="utf-8"),
                "question": question,
                "source": source,
                "as_of": as_of,
            },
            AssessRequest,
            strict=False,
        )
    except msgspec.ValidationError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> str:
        provider = ModelProvider(settings, known_models=loaded.model_names)
        try:
            served = await run_assessment(request, registry=loaded, provider=provider, settings=settings)
        finally:
            await provider.close()
        if markdown:
            return render_markdown(served.envelope.assessment, served.persona)
        encoded = msgspec.json.encode(served.envelope, enc_hook=lambda obj: obj.model_dump(mode="json"))
        return msgspec.json.format(encoded, indent=2).decode()

    try:
        click.echo(asyncio.run(run()))
    except AttacheError as exc:
        click.echo(f"{exc.code}: {exc.detail}", err=True)
        sys.exit(2 if exc.status < 500 else 3)
