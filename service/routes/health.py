"""Liveness and readiness probes."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from service.errors import NotReady


class Liveness(msgspec.Struct, frozen=True):
    status: str


class RegistryState(msgspec.Struct, frozen=True):
    personas: int
    versions: int
    lock_digest: str


class ProviderState(msgspec.Struct, frozen=True):
    configured: bool
    name: str | None


class Readiness(msgspec.Struct, frozen=True):
    status: str
    registry: RegistryState
    provider: ProviderState


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    include_in_schema = True

    @get("/live", summary="The process is alive")
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/ready",
        summary="Ready to serve: the registry is loaded and valid",
        description="Reports the registry and whether a model provider is configured. Without a provider the "
        "service is still ready: it serves the roster, and `/assess` answers 503 `provider_not_configured`.",
    )
    async def ready(self, state: State) -> Readiness:
        registry = state.get("registry")
        if registry is None:
            raise NotReady("the registry is not loaded yet")
        provider = state.get("provider")
        return Readiness(
            status="ready",
            registry=RegistryState(
                personas=len(registry.personas),
                versions=registry.version_count,
                lock_digest=registry.lock_digest,
            ),
            provider=ProviderState(
                configured=provider is not None, name=provider.provider_name if provider is not None else None
            ),
        )
