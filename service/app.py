"""The application factory: `create_app(settings)` builds a fresh Litestar app.

Nothing is built at import time; tests build apps with their own settings and registries.
"""

from __future__ import annotations

import signal
from typing import Any

import structlog
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from service.access.admission import admission_gate
from service.errors import (
    AttacheError,
    InvalidRequest,
    attache_error_to_problem,
    http_exception_to_problem,
    unexpected_error_to_problem,
)
from service.http.body import TypedBodyRequest
from service.http.openapi import StrictStructSchemaPlugin, assets_router, openapi_config
from service.http.request_context import request_context
from service.lifecycle import Services
from service.logs import configure_logging, get_logger
from service.registry import Registry
from service.routes.agents import AgentController
from service.routes.assess import assess
from service.routes.assessments import AssessmentController
from service.routes.health import HealthController
from service.routes.schemas import get_schema
from service.settings import Settings

log = get_logger("attache")


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_registry(state: State) -> Registry:
    """The registry being served now: a reload swaps it between requests, never during one."""
    services: Services = state.services
    return services.current_registry


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


def create_app(
    settings: Settings | None = None, *, registry: Registry | None = None, services: Services | None = None
) -> Litestar:
    """Build the app; the registry is loaded (and validated) at start-up unless given.

    `services`, when given, is what the app runs on (a test's own parts); otherwise it is
    built from `settings` (else the environment).
    """
    if services is None:
        settings = settings or Settings.from_env()
        configure_logging(settings.log_level)
        services = Services.build(settings, registry=registry)
    settings = services.settings
    trusted_proxies = settings.trusted_proxy_list

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
            "services": Provide(provide_services, sync_to_thread=False),
            "registry": Provide(provide_registry, sync_to_thread=False),
        },
        middleware=[http_metrics().middleware],
        request_max_body_size=settings.body_limit,
        request_class=TypedBodyRequest,
        on_startup=[services.start],
        on_shutdown=[services.stop],
        plugins=[ProblemDetailsPlugin(), StrictStructSchemaPlugin()],
        exception_handlers={
            AttacheError: _attache_error,
            HTTPException: _http_error,
            UnicodeDecodeError: _undecodable_body,
            Exception: _unexpected_error,
        },
        openapi_config=openapi_config(),
        logging_config=None,  # service.logs configures logging; Litestar's own would print plain text
        state=State({"services": services}),
    )
    # Route middleware never sees router errors (404, 405); the request id and the request
    # log line must, so they wrap Litestar's own outermost handler.
    handler = request_context(admission_gate(app.asgi_handler, services.admission))
    if trusted_proxies:
        # X-Forwarded-For from these peers only (uvicorn's own parser: rightmost untrusted hop).
        handler = ProxyHeadersMiddleware(handler, trusted_hosts=trusted_proxies)  # type: ignore[arg-type,assignment]
    app.asgi_handler = handler
    return app


def create_worker_app() -> Litestar:
    """The factory `attache serve --workers N` runs in each worker process.

    A worker starts with SIGHUP at its default (end the process) until the app's handler is
    installed; ignoring it first means a SIGHUP during start-up is harmless (the registry is
    loaded after that moment anyway).
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return create_app()
