"""`attache agents`: the roster, one persona a line, with its labels and roll-outs."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli.options import load_or_exit, registry_dir_option
from service.registry.spec import Rollout


@click.command()
@registry_dir_option
def agents(registry_dir: Path | None) -> None:
    """List the personas in the registry."""
    registry = load_or_exit(registry_dir)
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
