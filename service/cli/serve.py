"""`attache serve`: checks what would stop a worker, prepares the store once, then runs uvicorn."""

from __future__ import annotations

import os
from typing import Any

import click

from service.cli.options import load_or_exit, prepare_store, settings_from_env
from service.settings import Settings, SettingsError


def _check_keys(settings: Settings) -> None:
    """Refuse to start on a key source that is missing, unreadable, empty or weak (before any worker)."""
    from service.access.keys import configured_keys
    from service.lifecycle import check_fleet

    try:
        configured_keys(settings)
        check_fleet(settings)
        settings.trusted_proxy_list  # noqa: B018 - checked for its errors
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--host", default=None, help="Interface to bind (default: $ATTACHE_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: $ATTACHE_PORT or 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: $ATTACHE_WORKERS or 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API (uvicorn; several workers share one port and one /metrics)."""
    import uvicorn

    from service.logs import configure_logging

    settings = settings_from_env(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    registry = load_or_exit(None)  # fail fast, with the registry's own messages, before any worker starts
    _check_keys(settings)
    prepare_store(settings)  # once, before the workers: they would race to migrate a new SQLite file
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
