"""What a running Attaché holds, and its life: `Services`, started and stopped with the app.

`Services` is the one typed object the app hands to handlers (by Litestar's dependency
injection, as `services`; the registry being served as `registry`), so a handler names what
it uses and `mypy --strict` sees its type. Tests build `Services` with their own parts
(`Services.build(settings, registry=...)`) instead of patching the app's state.

Start (in order): the registry (loaded and validated unless given), the provider (the SDK's
import is paid only when one is configured), the store with its response cache and
background work, the shared rate limit, the registry's reloader. Stop: the reloader, the
background work (within what is left of the drain since SIGTERM), the limiter, the
provider, the store. SIGHUP reloads the registry; SIGTERM turns readiness false and starts
the shutdown budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING

from schemas import SCHEMAS
from service.access.admission import Admission
from service.access.callers import CallerNames, caller_secret
from service.access.keys import configured_keys
from service.access.rate_limit import RateLimiter
from service.assessment.background import Background
from service.assessment.cache import ResponseCache
from service.errors import NotReady
from service.logs import get_logger
from service.metrics import metrics, record_registry, record_start
from service.registry import Registry
from service.registry.reload import RegistryReloader, load_snapshot
from service.settings import Settings, SettingsError
from service.store import Store, open_store
from service.store.database import database_url

if TYPE_CHECKING:
    from service.provider.client import ModelProvider

log = get_logger("attache")


def check_fleet(settings: Settings) -> None:
    """A fleet must name callers alike on every replica, or callers would split between pods."""
    if settings.is_fleet and not settings.caller_secret:
        raise SettingsError(
            "ATTACHE_CALLER_SECRET: must be set (the same on every replica) when ATTACHE_REDIS_URL or a PostgreSQL "
            "ATTACHE_DATABASE_URL is: it names callers for rate limits, /assessments and idempotency keys"
        )


class Services:
    """Everything a request may use; built before start-up, filled in by `start`.

    A plain class, not a dataclass: Litestar's signature model would convert a dataclass
    field by field on every request that injects it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_keys: frozenset[str],
        admin_keys: frozenset[str],
        callers: CallerNames,
        admission: Admission,
        registry: Registry | None = None,
    ) -> None:
        """`registry`: one handed in (tests, `attache serve`, which has loaded it already), not loaded again."""
        self.settings = settings
        self.client_keys = client_keys
        """Every key that may call the API (admins' included); empty: open mode."""
        self.admin_keys = admin_keys
        self.callers = callers
        self.admission = admission
        self.given_registry = registry
        self.registry: Registry | None = None
        self.provider: ModelProvider | None = None
        self.store: Store | None = None
        self.cache: ResponseCache | None = None
        self.background: Background | None = None
        self.limiter: RateLimiter | None = None
        self.reloader: RegistryReloader | None = None
        self.draining_since: float | None = None
        """When SIGTERM arrived (monotonic clock): readiness is false from then on."""
        self._registry_watch: asyncio.Task[None] | None = None
        self._sighup_pending = False

    @classmethod
    def build(cls, settings: Settings, *, registry: Registry | None = None) -> Services:
        """Check what would stop start-up (keys, fleet settings, proxies) and build the parts that need no I/O."""
        client_keys, admin_keys = configured_keys(settings)
        check_fleet(settings)
        settings.trusted_proxy_list  # noqa: B018 - checked for its errors
        return cls(
            settings,
            client_keys=client_keys | admin_keys,
            admin_keys=admin_keys,
            callers=CallerNames(caller_secret(settings)),
            admission=Admission(settings.max_inflight),
            registry=registry,
        )

    @property
    def current_registry(self) -> Registry:
        """The registry being served; 503 `not_ready` before start-up has loaded it."""
        if self.registry is None:
            raise NotReady("the registry is not loaded yet")
        return self.registry

    @property
    def kept(self) -> Store:
        """The store (started before any request is served)."""
        if self.store is None:
            raise NotReady("the store is not open yet")
        return self.store

    @property
    def background_work(self) -> Background:
        """The background work (started before any request is served)."""
        if self.background is None:
            raise NotReady("the background work has not started yet")
        return self.background

    async def start(self) -> None:
        settings = self.settings
        self.watch_sighup()  # before the load: a SIGHUP from here on is not lost
        self.registry = self.given_registry or self._load_registry()
        record_start(self.registry)
        if not self.client_keys:
            log.warning(
                "neither ATTACHE_API_KEYS nor ATTACHE_API_KEYS_FILE is set: /assess and /agents are open to any caller"
            )
        if settings.provider_configured:
            from service.provider.client import ModelProvider  # the openai SDK: ~1.5 s of imports

            self.provider = ModelProvider(settings, known_models=self.registry.model_names)
            self.provider.warm_up(list(SCHEMAS.values()))
        else:
            log.warning(
                "no model provider configured; /assess answers 503 until OPENAI_API_KEY or OPENAI_BASE_URL is set"
            )
        await self._start_store()
        if settings.rate_limit_per_minute:
            self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.redis_url)
            await self.limiter.connect()
        self._start_reloader()
        self.watch_sigterm()
        # Everything built so far (modules, registry, schemas, the SDK's types) lives as long as
        # the process: out of the collector's sight, collections under load take ~40 % less time.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        gc.unfreeze()
        await self._stop_reloader()
        if self.background is not None:
            # One budget since SIGTERM: uvicorn's drain of requests, then what async work has left.
            draining_since = self.draining_since or time.monotonic()
            await self.background.stop(max(self.settings.drain_seconds - (time.monotonic() - draining_since), 0.0))
        if self.limiter is not None:
            await self.limiter.close()
        if self.provider is not None:
            await self.provider.close()
        if self.store is not None:
            await self.store.close()

    def _load_registry(self) -> Registry:
        loaded = load_snapshot(self.settings.registry_path, cache_dir=self.settings.cache_path)
        log.info(
            "registry loaded",
            path=str(loaded.root),
            personas=len(loaded.personas),
            versions=loaded.version_count,
            lock_digest=loaded.lock_digest,
            labels_digest=loaded.labels_digest,
        )
        return loaded

    async def _start_store(self) -> None:
        """Open the store (SQLite by default), its response cache and its background work.

        A database that cannot be reached does not stop start-up (plain assessments are still
        answered); one at a revision this release does not know does.
        """
        settings = self.settings
        store = await open_store(database_url(settings), pool_size=min(settings.max_inflight, 20))
        log.info("store", store=store.location, revision=store.revision, available=store.available)
        self.store = store
        if settings.response_cache_ttl:
            self.cache = ResponseCache(store, settings.response_cache_ttl)
        self.background = Background(store, settings)
        self.background.start()

    def _start_reloader(self) -> None:
        """Serve a changed registry without a restart: on SIGHUP, and by polling its files."""
        settings = self.settings

        def swap(previous: Registry, loaded: Registry) -> None:
            self.registry = loaded  # one assignment: a request sees the old registry or the new, whole
            record_registry(loaded, previous)
            if self.provider is not None:  # models a new version names may be metric labels as they are
                from service.provider.calls import ModelLabels

                self.provider.model_labels = ModelLabels(settings, loaded.model_names)

        def counted(outcome: str) -> None:
            metrics().registry_reloads.labels(outcome).inc()

        self.reloader = RegistryReloader(
            settings.registry_path, self.current_registry, cache_dir=settings.cache_path, swap=swap, counted=counted
        )
        if self._sighup_pending:
            self.reloader.request("SIGHUP")
        if settings.registry_reload_seconds:
            self._registry_watch = asyncio.get_running_loop().create_task(
                self.reloader.watch(settings.registry_reload_seconds), name="attache-registry-watch"
            )

    async def _stop_reloader(self) -> None:
        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread; the loop is closing
            if asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP):
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a late SIGHUP must not end a worker shutting down
        if self._registry_watch is not None:
            self._registry_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._registry_watch
        if self.reloader is not None:
            await self.reloader.close()

    def watch_sighup(self) -> None:
        """SIGHUP reloads the registry (as nginx reloads its configuration); it never ends the process.

        `attache serve --workers N` forwards the launcher's SIGHUP to every worker
        (`service.serving.supervisor`). Possible only in the main thread (a server, not a test client).
        """

        def on_sighup() -> None:
            if self.reloader is None:
                self._sighup_pending = True  # still starting: reload as soon as the reloader exists
            else:
                self.reloader.request("SIGHUP")

        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)

    def watch_sigterm(self) -> None:
        """Note when SIGTERM arrives: readiness turns false, and the shutdown budget starts then.

        uvicorn owns the signal (it stops accepting, drains, exits); this handler only records
        the moment before passing the signal on. Possible only in the main thread (a server,
        not a test client).
        """
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.draining_since = time.monotonic()
            if callable(previous):
                previous(signum, frame)

        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGTERM, on_sigterm)
