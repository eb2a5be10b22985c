"""`attache db upgrade`: the store's schema brought to this release's head."""

from __future__ import annotations

import click

from service.cli.options import prepare_store, settings_from_env


@click.group()
def db() -> None:
    """The assessment store: SQLite in ATTACHE_DATA_DIR, or ATTACHE_DATABASE_URL."""


@db.command()
def upgrade() -> None:
    """Migrate the store to this release's schema (start-up does it too; a chart runs it as a hook)."""
    from service.store.database import HEAD, database_url, describe

    settings = settings_from_env()
    revision = prepare_store(settings, required=True)
    click.echo(f"{describe(database_url(settings))} is at migration {revision} (this release's head: {HEAD})")
