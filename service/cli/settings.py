"""`attache settings`: every setting, as the documentation's table."""

from __future__ import annotations

import click


@click.command()
def settings() -> None:
    """Print every setting as the Markdown table of docs/configuration.md."""
    from service.settings import settings_table

    click.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for variable, default, description in settings_table():
        click.echo(f"| `{variable}` | {default} | {description} |")
