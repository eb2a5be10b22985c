"""Liveness and readiness probes."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from service.errors import NotReady
from service.lifecycle import Services
from service.store import StoreOperationFailed


class Liveness(msgspec.Struct, frozen=True):
    status: str


class RegistryState(msgspec.Struct, frozen=True):
    personas: int
    versions: int
    lock_digest: Annotated[str, msgspec.Meta(description="sha256 of the registry.lock being served.")]
    labels_digest: Annotated[
        str, msgspec.Meta(description="sha256 over the persona files being served: changes when a label moves.")
    ]
    loaded_at: Annotated[
        dt.datetime | None, msgspec.Meta(description="When the registry being served was loaded (start-up or reload).")
    ]
    reload_error: Annotated[
        str | None,
        msgspec.Meta(
            description="Why the last reload failed, while the registry loaded before it goes on serving; null after "
            "a reload succeeds."
        ),
    ]


class ProviderState(msgspec.Struct, frozen=True):
    configured: bool
    name: str | None


class StoreState(msgspec.Struct, frozen=True):
    backend: str
    location: Annotated[str, msgspec.Meta(description="The database, without credentials.")]
    available: Annotated[
        bool,
        msgspec.Meta(
            description="False after an operation failed: plain assessments are still answered (unkept); "
            "Idempotency-Key and respond-async get 503 `store_unavailable`. It turns true by itself."
        ),
    ]
    revision: str | None


class Readiness(msgspec.Struct, frozen=True):
    status: str
    registry: RegistryState
    provider: ProviderState
    store: StoreState


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    include_in_schema = True

    @get("/live", summary="The process is alive", operation_id="live")
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/ready",
        summary="Ready to serve: the registry is loaded and valid",
        operation_id="ready",
        description="Reports the registry, whether a model provider is configured, and the store's state. "
        "Without a provider or a store the service is still ready: it serves the roster, `/assess` answers 503 "
        "`provider_not_configured` without a provider, and answers unkept without a store.",
    )
    async def ready(self, services: NamedDependency[Services]) -> Readiness:
        registry = services.current_registry
        if services.draining_since is not None:
            raise NotReady("shutting down: finishing what is in flight, taking nothing new")
        provider = services.provider
        reload_state = services.reloader.state if services.reloader is not None else None
        store = services.kept
        if not store.available:
            with contextlib.suppress(StoreOperationFailed):
                await store.ping()  # a probe is how a recovered database is noticed when traffic is idle
        return Readiness(
            status="ready",
            registry=RegistryState(
                personas=len(registry.personas),
                versions=registry.version_count,
                lock_digest=registry.lock_digest,
                labels_digest=registry.labels_digest,
                loaded_at=reload_state.loaded_at if reload_state else None,
                reload_error=reload_state.error if reload_state else None,
            ),
            provider=ProviderState(
                configured=provider is not None, name=provider.provider_name if provider is not None else None
            ),
            store=StoreState(store.backend, store.location, store.available, store.revision),
        )
