"""Requests per minute per caller: one count for the whole fleet on Redis, kept locally without it.

The caller is who the guard verified (the HMAC name of the key; the client address in
open mode), so an unknown key is a 401 that creates no limiter state anywhere. Windows are
the clock's minutes: a request is counted under `<caller>:<minute>` by one atomic
increment-and-expire on Redis (the `limits` library's Lua script), which gives the count,
and so `RateLimit-Remaining` and `RateLimit-Reset`, with no second call. The increments a
worker has waiting are sent together in one pipeline: a burst costs one round trip, not a
connection per request.

Redis is never a single point of failure. Every call has a deadline of `REDIS_TIMEOUT`; a
failure (refused, reset, hung) counts `attache_redis_errors_total`, switches this worker to
its own local count (the same windows, in memory), and is logged once. Redis is tried again
by one request every `RETRY_EVERY` seconds, so a stopped or hung Redis costs at most one
timeout per worker per retry, and the worker returns to the shared count by itself.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from limits.aio.storage import MemoryStorage, RedisStorage
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from service.access.guard import caller_of
from service.errors import RateLimited
from service.logs import get_logger
from service.metrics import metrics

WINDOW = 60
REDIS_TIMEOUT = 0.05
RETRY_EVERY = 1.0
KEY_PREFIX = "attache"

log = get_logger("attache.rate_limit")


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    count: int
    reset: int
    """Seconds until the window ends."""

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    def headers(self) -> dict[str, str]:
        """The IETF RateLimit headers (and Retry-After once the quota is spent)."""
        headers = {
            "RateLimit-Policy": f"{self.limit}; w={WINDOW}",
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.limit - self.count, 0)),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


class RateLimiter:
    def __init__(self, limit: int, redis_url: str | None) -> None:
        self.limit = limit
        self.local = MemoryStorage()
        self.shared: Any = None
        if redis_url:
            client: dict[str, Any] = {
                "socket_timeout": REDIS_TIMEOUT,
                "socket_connect_timeout": REDIS_TIMEOUT,
                # A pooled connection that Redis dropped (a restart) is replaced at once, within the
                # deadline, instead of costing a request its shared count.
                "retry": Retry(NoBackoff(), retries=1),
                "retry_on_error": [RedisConnectionError],
            }
            self.shared = RedisStorage(redis_url, implementation="redispy", key_prefix=KEY_PREFIX, **client)
        self.using_redis = self.shared is not None
        self._retry_at = 0.0
        self._waiting: list[tuple[str, asyncio.Future[int | None]]] = []
        self._sender: asyncio.Task[None] | None = None

    @property
    def mode(self) -> str:
        if self.shared is None:
            return "local"
        return "redis" if self.using_redis else "local-fallback"

    async def charge(self, caller: str, now: float | None = None) -> Quota:
        now = time.time() if now is None else now
        minute = int(now // WINDOW)
        key = f"{caller}:{minute}"
        reset = max(math.ceil((minute + 1) * WINDOW - now), 1)
        count = await self._shared_count(key, now)
        if count is None:
            count = await self.local.incr(key, WINDOW + 1)
        return Quota(self.limit, count, reset)

    async def _shared_count(self, key: str, now: float) -> int | None:
        """The count on Redis after this increment, or None: count locally."""
        if self.shared is None or (not self.using_redis and now < self._retry_at):
            return None
        counted: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, counted))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="attache-rate-limit")
        return await counted

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with asyncio.timeout(REDIS_TIMEOUT):
                    counts = await self._increment([key for key, _ in batch])
            except Exception as exc:  # refused, reset, timed out, a Redis error: all mean "count locally"
                self._failed(type(exc).__name__)
                counts = [None] * len(batch)
            else:
                self._answered()
            for (_, counted), count in zip(batch, counts, strict=True):
                counted.set_result(count)

    async def _increment(self, keys: list[str]) -> list[int | None]:
        bridge = self.shared.bridge
        async with bridge.storage.pipeline(transaction=False) as pipeline:  # released even when cut short
            for key in keys:
                await bridge.lua_incr_expire([bridge.prefixed_key(key)], [WINDOW + 1, 1], client=pipeline)
            return [int(count) for count in await pipeline.execute()]

    def _failed(self, reason: str) -> None:
        metrics().redis_errors.inc()
        self._retry_at = time.time() + RETRY_EVERY
        if self.using_redis:
            self.using_redis = False
            metrics().rate_limit_shared.set(0)
            log.error("redis unavailable: rate limits are per worker until it answers", error_type=reason)

    def _answered(self) -> None:
        if not self.using_redis:
            self.using_redis = True
            metrics().rate_limit_shared.set(1)
            log.info("redis available again: rate limits are shared")

    async def connect(self) -> None:
        """Open a connection at start-up, so the first burst does not pay for it (a failure is only logged)."""
        if self.shared is not None:
            try:
                async with asyncio.timeout(1):
                    await self.shared.bridge.storage.ping()
            except Exception as exc:
                self._failed(type(exc).__name__)
            else:
                metrics().rate_limit_shared.set(1)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.bridge.storage.aclose()


class LimiterServices(Protocol):
    """What the rate-limit guard reads of the app's `service.lifecycle.Services`."""

    limiter: RateLimiter | None


async def rate_limit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard, after `require_api_key`: charge the verified caller; 429 past the limit.

    The quota's headers go on whatever the request answers (the request context adds them).
    """
    services: LimiterServices = connection.app.state.services
    limiter = services.limiter
    if limiter is None:
        return
    quota = await limiter.charge(caller_of(connection).name)
    connection.scope["state"].setdefault("response_headers", {}).update(quota.headers())
    if not quota.allowed:
        raise RateLimited(
            f"this caller sent more than {quota.limit} requests this minute; retry in {quota.reset} s",
            headers=quota.headers(),
        )
