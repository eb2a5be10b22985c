"""`attache registry check|lock|diff`: the registry as a product team publishes it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli.options import load_or_exit, registry_dir_option


@click.group()
def registry() -> None:
    """Check, lock and diff the prompt registry."""


@registry.command()
@registry_dir_option
def check(registry_dir: Path | None) -> None:
    """Validate every file, template, label, roll-out, lock entry and eval suite; exit 1 naming each problem."""
    from service.eval.suite import SuiteInvalid, load_suites
    from service.registry.load import EVALS_DIR

    loaded = load_or_exit(registry_dir)
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
@registry_dir_option
def lock(registry_dir: Path | None) -> None:
    """Add new versions to registry.lock; never rewrite an existing entry."""
    from service.registry.lock import read_lock, write_lock

    loaded = load_or_exit(registry_dir, check_lock=False)
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
@registry_dir_option
@click.argument("agent")
@click.argument("old")
@click.argument("new")
def diff(registry_dir: Path | None, agent: str, old: str, new: str) -> None:
    """Unified diff of two versions (or labels) of AGENT's prompt."""
    from service.errors import AttacheError
    from service.registry.diff import diff_versions

    loaded = load_or_exit(registry_dir, check_lock=False)
    try:
        persona = loaded.persona(agent)
        before, _ = persona.resolve(old)
        after, _ = persona.resolve(new)
    except AttacheError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("".join(diff_versions(before, after)), nl=False)
