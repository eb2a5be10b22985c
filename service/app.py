"""The application factory: `create_app(settings)` builds a fresh Litestar app.

Nothing is built at import time; tests build apps with their own settings and registries.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from types import FrameType
from typing import Any

import structlog
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from schemas import SCHEMAS
from service.access.admission import Admission, admission_gate
from service.access.callers import CallerNames, caller_secret
from service.access.keys import configured_keys
from service.access.rate_limit import RateLimiter
from service.assessment.background import Background
from service.assessment.cache import ResponseCache
from service.errors import (
    AttacheError,
    InvalidRequest,
    NotReady,
    attache_error_to_problem,
    http_exception_to_problem,
    unexpected_error_to_problem,
)
from service.http.body import TypedBodyRequest
from service.http.openapi import StrictStructSchemaPlugin, assets_router, openapi_config
from service.http.request_context import request_context
from service.logs import configure_logging, get_logger
from service.metrics import record_registry, record_start
from service.registry import Registry
from service.registry.reload import RegistryReloader, load_snapshot
from service.routes.agents import AgentController
from service.routes.assess import assess
from service.routes.assessments import AssessmentController
from service.routes.health import HealthController
from service.routes.schemas import get_schema
from service.settings import Settings, SettingsError
from service.store import Store, open_store
from service.store.database import database_url

log = get_logger("attache")


def provide_registry(state: State) -> Registry:
    registry: Registry | None = state.get("registry")
    if registry is None:
        raise NotReady("the registry is not loaded yet")
    return registry


def _attache_error(request: Request[Any, Any, Any], exc: AttacheError) -> Response[Any]:
    structlog.contextvars.bind_contextvars(problem=exc.code)
    return attache_error_to_problem(exc).to_response(request)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    problem = http_exception_to_problem(exc)
    if isinstance(problem.extra, dict):
        structlog.contextvars.bind_contextvars(problem=problem.extra["code"])
    return problem.to_response(request)


def _undecodable_body(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    # Litestar's JSON decoding lets a non-UTF-8 body escape as UnicodeDecodeError.
    return _attache_error(request, InvalidRequest(f"the request body is not valid UTF-8 (byte {exc.start})"))


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    structlog.contextvars.bind_contextvars(problem="internal_error")
    log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return unexpected_error_to_problem(exc).to_response(request)


class MetricsController(PrometheusController):
    """`/metrics` in Prometheus text format; sums all workers in multiprocess mode."""

    include_in_schema = False


def http_metrics() -> PrometheusConfig:
    # Path templates, never raw paths; probes and scrapes are not traffic.
    return PrometheusConfig(
        app_name="attache",
        prefix="attache_http",
        group_path=True,
        exclude=["^/health/", "^/metrics", "^/docs"],
        buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    )


async def start_store(app: Litestar, settings: Settings) -> None:
    """Open the store (SQLite by default), its response cache and its background work.

    A database that cannot be reached does not stop start-up (plain assessments are still
    answered); one at a revision this release does not know does.
    """
    store = await open_store(database_url(settings), pool_size=min(settings.max_inflight, 20))
    log.info("store", store=store.location, revision=store.revision, available=store.available)
    app.state.store = store
    if settings.response_cache_ttl:
        app.state.response_cache = ResponseCache(store, settings.response_cache_ttl)
    app.state.background = Background(store, settings)
    app.state.background.start()


def check_fleet(settings: Settings) -> None:
    """A fleet must name callers alike on every replica, or callers would split between pods."""
    if settings.is_fleet and not settings.caller_secret:
        raise SettingsError(
            "ATTACHE_CALLER_SECRET: must be set (the same on every replica) when ATTACHE_REDIS_URL or a PostgreSQL "
            "ATTACHE_DATABASE_URL is: it names callers for rate limits, /assessments and idempotency keys"
        )


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> Litestar:
    """Build the app; the registry is loaded (and validated) at start-up unless given."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    client_keys, admin_keys = configured_keys(settings)
    check_fleet(settings)
    trusted_proxies = settings.trusted_proxy_list

    async def start(app: Litestar) -> None:
        watch_sighup(app)  # before the load: a SIGHUP from here on is not lost
        if registry is not None:
            app.state.registry = registry
        else:
            loaded = load_snapshot(settings.registry_path, cache_dir=settings.cache_path)
            app.state.registry = loaded
            log.info(
                "registry loaded",
                path=str(loaded.root),
                personas=len(loaded.personas),
                versions=loaded.version_count,
                lock_digest=loaded.lock_digest,
                labels_digest=loaded.labels_digest,
            )
        current: Registry = app.state.registry
        record_start(current)
        if not app.state.client_keys:
            log.warning(
                "neither ATTACHE_API_KEYS nor ATTACHE_API_KEYS_FILE is set: /assess and /agents are open to any caller"
            )
        if settings.provider_configured:
            from service.provider.client import ModelProvider  # the openai SDK: ~1.5 s of imports

            app.state.provider = ModelProvider(settings, known_models=current.model_names)
            app.state.provider.warm_up(list(SCHEMAS.values()))
        else:
            log.warning(
                "no model provider configured; /assess answers 503 until OPENAI_API_KEY or OPENAI_BASE_URL is set"
            )
        await start_store(app, settings)
        if settings.rate_limit_per_minute:
            app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.redis_url)
            await app.state.rate_limiter.connect()
        start_reloader(app, settings)
        watch_sigterm(app)
        # Everything built so far (modules, registry, schemas, the SDK's types) lives as long as
        # the process: out of the collector's sight, collections under load take ~40 % less time.
        gc.collect()
        gc.freeze()

    async def stop(app: Litestar) -> None:
        gc.unfreeze()
        await stop_reloader(app)
        background: Background | None = app.state.get("background")
        if background is not None:
            # One budget since SIGTERM: uvicorn's drain of requests, then what async work has left.
            draining_since: float = app.state.get("draining_since") or time.monotonic()
            await background.stop(max(settings.drain_seconds - (time.monotonic() - draining_since), 0.0))
        limiter: RateLimiter | None = app.state.get("rate_limiter")
        if limiter is not None:
            await limiter.close()
        provider = app.state.get("provider")
        if provider is not None:
            await provider.close()
        store: Store | None = app.state.get("store")
        if store is not None:
            await store.close()

    # With ATTACHE_METRICS_PORT, /metrics is served on that port by `attache serve`, not here.
    metrics_route = [] if settings.metrics_port else [MetricsController]
    app = Litestar(
        route_handlers=[
            AgentController,
            AssessmentController,
            HealthController,
            *metrics_route,
            assess,
            get_schema,
            assets_router(),
        ],
        dependencies={
            "registry": Provide(provide_registry, sync_to_thread=False),
        },
        middleware=[http_metrics().middleware],
        request_max_body_size=settings.body_limit,
        request_class=TypedBodyRequest,
        on_startup=[start],
        on_shutdown=[stop],
        plugins=[ProblemDetailsPlugin(), StrictStructSchemaPlugin()],
        exception_handlers={
            AttacheError: _attache_error,
            HTTPException: _http_error,
            UnicodeDecodeError: _undecodable_body,
            Exception: _unexpected_error,
        },
        openapi_config=openapi_config(),
        logging_config=None,  # service.logs configures logging; Litestar's own would print plain text
        state=State(
            {
                "settings": settings,
                "client_keys": client_keys | admin_keys,
                "admin_keys": admin_keys,
                "callers": CallerNames(caller_secret(settings)),
                "admission": Admission(settings.max_inflight),
            }
        ),
    )
    # Route middleware never sees router errors (404, 405); the request id and the request
    # log line must, so they wrap Litestar's own outermost handler.
    handler = request_context(admission_gate(app.asgi_handler, app.state.admission))
    if trusted_proxies:
        # X-Forwarded-For from these peers only (uvicorn's own parser: rightmost untrusted hop).
        handler = ProxyHeadersMiddleware(handler, trusted_hosts=trusted_proxies)  # type: ignore[arg-type,assignment]
    app.asgi_handler = handler
    return app


def start_reloader(app: Litestar, settings: Settings) -> None:
    """Serve a changed registry without a restart: on SIGHUP, and by polling its files."""

    def swap(previous: Registry, loaded: Registry) -> None:
        app.state.registry = loaded  # one assignment: a request sees the old registry or the new, whole
        record_registry(loaded, previous)
        provider = app.state.get("provider")
        if provider is not None:  # models a new version names may be metric labels as they are
            from service.provider.calls import ModelLabels

            provider.model_labels = ModelLabels(settings, loaded.model_names)

    reloader = RegistryReloader(settings.registry_path, app.state.registry, cache_dir=settings.cache_path, swap=swap)
    app.state.reloader = reloader
    if app.state.get("sighup_pending"):
        reloader.request("SIGHUP")
    if settings.registry_reload_seconds:
        app.state.registry_watch = asyncio.get_running_loop().create_task(
            reloader.watch(settings.registry_reload_seconds), name="attache-registry-watch"
        )


async def stop_reloader(app: Litestar) -> None:
    with contextlib.suppress(ValueError, RuntimeError):  # not the main thread; the loop is closing
        if asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP):
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a late SIGHUP must not end a worker shutting down
    watch: asyncio.Task[None] | None = app.state.get("registry_watch")
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    reloader: RegistryReloader | None = app.state.get("reloader")
    if reloader is not None:
        await reloader.close()


def watch_sighup(app: Litestar) -> None:
    """SIGHUP reloads the registry (as nginx reloads its configuration); it never ends the process.

    `attache serve --workers N` forwards the launcher's SIGHUP to every worker
    (`service.serving.supervisor`). Possible only in the main thread (a server, not a test client).
    """

    def on_sighup() -> None:
        reloader: RegistryReloader | None = app.state.get("reloader")
        if reloader is None:
            app.state.sighup_pending = True  # still starting: reload as soon as the reloader exists
        else:
            reloader.request("SIGHUP")

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)


def create_worker_app() -> Litestar:
    """The factory `attache serve --workers N` runs in each worker process.

    A worker starts with SIGHUP at its default (end the process) until the app's handler is
    installed; ignoring it first means a SIGHUP during start-up is harmless (the registry is
    loaded after that moment anyway).
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return create_app()


def watch_sigterm(app: Litestar) -> None:
    """Note when SIGTERM arrives: readiness turns false, and the shutdown budget starts then.

    uvicorn owns the signal (it stops accepting, drains, exits); this handler only records
    the moment before passing the signal on. Possible only in the main thread (a server, not
    a test client).
    """
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        app.state.draining_since = time.monotonic()
        if callable(previous):
            previous(signum, frame)

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, on_sigterm)
