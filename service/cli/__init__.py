"""The `attache` command: one module per command group.

`serve` (the HTTP API), `agents` (the roster), `registry check|lock|diff`, `db upgrade`,
`settings`, `assess` (one assessment) and `eval` (imported only when asked for: it is the
heaviest). Shared options and loading live in `options`.
"""

from __future__ import annotations

import click

from service.cli.agents import agents
from service.cli.assess import assess
from service.cli.db import db
from service.cli.registry import registry
from service.cli.serve import serve
from service.cli.settings import settings


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


for command in (serve, agents, registry, db, settings, assess):
    main.add_command(command)
