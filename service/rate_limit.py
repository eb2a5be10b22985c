"""Requests per minute per caller: one count for the whole fleet on Redis, kept locally without it.

The caller is who the guard verified (the HMAC name of the key; the client address in
open mode), so an unknown key is a 401 that creates no limiter state anywhere. Windows are
the clock's minutes: a request is counted under `<caller>:<minute>` by one atomic
increment-and-expire on Redis (the `limits` library's Lua script, one round trip), which
gives the count, and so `RateLimit-Remaining` and `RateLimit-Reset`, with no second call.

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
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.auth import caller_of
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
            self.shared = RedisStorage(
                redis_url,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
        self.using_redis = self.shared is not None
        self._retry_at = 0.0

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
        if self.shared is None or (not self.using_redis and now < self._retry_at):
            return None
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                count: int = await self.shared.incr(key, WINDOW + 1)
        except Exception as exc:  # refused, reset, timed out, a Redis error: all mean "count locally"
            metrics().redis_errors.inc()
            self._retry_at = now + RETRY_EVERY
            if self.using_redis:
                self.using_redis = False
                metrics().rate_limit_shared.set(0)
                log.error(
                    "redis unavailable: rate limits are per worker until it answers", error_type=type(exc).__name__
                )
            return None
        if not self.using_redis:
            self.using_redis = True
            metrics().rate_limit_shared.set(1)
            log.info("redis available again: rate limits are shared")
        return count

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.bridge.storage.aclose()


async def rate_limit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard, after `require_api_key`: charge the verified caller; 429 past the limit.

    The quota's headers go on whatever the request answers (the request context adds them).
    """
    limiter: RateLimiter | None = connection.app.state.get("rate_limiter")
    if limiter is None:
        return
    quota = await limiter.charge(caller_of(connection).name)
    connection.scope["state"].setdefault("response_headers", {}).update(quota.headers())
    if not quota.allowed:
        raise RateLimited(
            f"this caller sent more than {quota.limit} requests this minute; retry in {quota.reset} s",
            headers=quota.headers(),
        )
