"""What every `attache` command shares: settings from the environment, the registry folder option,
the registry loaded or the command ended with its own messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from service.registry import Registry, RegistryInvalid, load_registry
from service.settings import Settings, SettingsError


def settings_from_env(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def registry_dir_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--registry-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Registry folder (default: $ATTACHE_REGISTRY_DIR, else the repository's registry/).",
    )(f)


def load_or_exit(registry_dir: Path | None, *, check_lock: bool = True) -> Registry:
    settings = settings_from_env(registry_dir=str(registry_dir) if registry_dir else None)
    try:
        return load_registry(settings.registry_path, check_lock=check_lock, cache_dir=settings.cache_path)
    except RegistryInvalid as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def prepare_store(settings: Settings, *, required: bool = False) -> str | None:
    """Bring the store's schema to this release's head; exit naming the problem if it cannot be.

    An unreachable database stops only `attache db upgrade` (`required`); `serve` starts
    without it (plain assessments are still answered) and keeps trying.
    """
    from service.store.database import OFF, StoreSchemaError, database_url, describe, upgrade_schema

    try:
        url = database_url(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if url == OFF:
        if required:
            raise click.ClickException("ATTACHE_DATABASE_URL is `off`: there is no store to upgrade")
        return None
    try:
        return upgrade_schema(url)
    except StoreSchemaError as exc:
        raise click.ClickException(f"{describe(url)}: {exc}") from None
    except Exception as exc:
        if required:
            raise click.ClickException(f"{describe(url)}: cannot reach the database ({type(exc).__name__})") from None
        click.echo(f"warning: {describe(url)} cannot be reached ({type(exc).__name__}); starting without it", err=True)
        return None
