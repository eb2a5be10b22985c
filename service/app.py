"""The application factory: `create_app(settings)` builds a fresh Litestar app.

Nothing is built at import time; tests build apps with their own settings and registries.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from service.errors import (
    AttacheError,
    NotReady,
    attache_error_to_problem,
    http_exception_to_problem,
    unexpected_error_to_problem,
)
from service.logs import configure_logging, get_logger
from service.openapi import assets_router, openapi_config
from service.provider import ModelProvider
from service.registry import Registry, load_registry
from service.request_id import request_id_middleware
from service.routes.agents import AgentController
from service.routes.assess import assess, provide_provider
from service.routes.health import HealthController
from service.routes.schemas import get_schema
from service.settings import Settings

log = get_logger("attache")


def provide_registry(state: State) -> Registry:
    registry: Registry | None = state.get("registry")
    if registry is None:
        raise NotReady("the registry is not loaded yet")
    return registry


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return unexpected_error_to_problem(exc).to_response(request)


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> Litestar:
    """Build the app; the registry is loaded (and validated) at start-up unless given."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    def start(app: Litestar) -> None:
        if registry is not None:
            app.state.registry = registry
        else:
            loaded = load_registry(settings.registry_path, cache_dir=settings.cache_path)
            app.state.registry = loaded
            log.info(
                "registry loaded",
                path=str(loaded.root),
                personas=len(loaded.personas),
                versions=loaded.version_count,
                lock_digest=loaded.lock_digest,
            )
        if settings.provider_configured:
            app.state.provider = ModelProvider(settings)
        else:
            log.warning(
                "no model provider configured; /assess answers 503 until OPENAI_API_KEY or OPENAI_BASE_URL is set"
            )

    async def stop(app: Litestar) -> None:
        provider: ModelProvider | None = app.state.get("provider")
        if provider is not None:
            await provider.close()

    problem_details = ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                AttacheError: attache_error_to_problem,
                HTTPException: http_exception_to_problem,
            }
        )
    )
    return Litestar(
        route_handlers=[AgentController, HealthController, assess, get_schema, assets_router()],
        dependencies={
            "registry": Provide(provide_registry, sync_to_thread=False),
            "provider": Provide(provide_provider, sync_to_thread=False),
        },
        middleware=[request_id_middleware],
        on_startup=[start],
        on_shutdown=[stop],
        plugins=[problem_details],
        exception_handlers={Exception: _unexpected_error},
        openapi_config=openapi_config(),
        state=State({"settings": settings}),
    )
