"""Rate limits: charged to the verified caller, shared on a real Redis, never hostage to it.

Properties: an unknown key is a 401 that leaves no limiter state anywhere; in open mode the
client address counts, and `X-Forwarded-For` only from ATTACHE_TRUSTED_PROXIES; two apps
on one Redis share one budget; a stopped or hung (SIGSTOP) Redis costs at most its short
timeout, the workers count locally meanwhile, and the shared count resumes by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.access.rate_limit import REDIS_TIMEOUT, RateLimiter
from service.app import create_app
from service.settings import Settings, SettingsError
from tests.api.test_observability import samples, value
from tests.conftest import problem, serving
from tools.bursts import quiet_window

KEY = "ck-rate-limit-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER = "ck-rate-limit-ffeeddccbbaa99887766554433221100"
SECRET = "a-shared-caller-secret-for-every-replica"  # noqa: S105 - a test's own value


@pytest.fixture
def redis_server() -> Iterator[Any]:
    from tools.servers import RedisServer

    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"cache_dir": "off", "database_url": "off", "rate_limit_per_minute": 5, **overrides}
    return Settings(**values)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def keys_in(server: Any) -> int:
    return int(redis.Redis.from_url(server.url).dbsize())


async def test_an_unknown_key_leaves_no_limiter_state(redis_server: Any) -> None:
    app = create_app(settings(api_keys=KEY, redis_url=redis_server.url, caller_secret=SECRET))
    async with AsyncTestClient(app=app) as client:
        for number in range(1000):  # junk keys: each one a 401, none a counter
            problem(await client.get("/agents", headers=bearer(f"junk-{number:028d}")), 401, "unauthorized")
        limiter: RateLimiter = app.state.services.limiter
        assert keys_in(redis_server) == 0, "no growth in Redis"
        assert len(limiter.local.storage) == 0, "and none in memory"
        assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200
        assert keys_in(redis_server) == 1


async def test_two_apps_on_one_redis_share_one_budget(redis_server: Any) -> None:
    shared = settings(api_keys=f"{KEY},{OTHER}", redis_url=redis_server.url, caller_secret=SECRET)
    quiet_window()
    async with AsyncTestClient(app=create_app(shared)) as a, AsyncTestClient(app=create_app(shared)) as b:
        statuses = [(await (a if n % 2 else b).get("/agents", headers=bearer(KEY))).status_code for n in range(8)]
        assert statuses == [200] * 5 + [429] * 3, "the 6th request is refused, whichever app gets it"
        limited = await a.get("/agents", headers=bearer(KEY))
        body = problem(limited, 429, "rate_limited")
        assert "5 requests this minute" in body["detail"]
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["ratelimit-remaining"] == "0"
        ok = await b.get("/agents", headers=bearer(OTHER))
        assert ok.status_code == 200, "another key has its own budget"
        assert ok.headers["ratelimit-remaining"] == "4"
        assert ok.headers["ratelimit-policy"] == "5; w=60"


@pytest.mark.parametrize("trusted", [None, "127.0.0.1/32"])
def test_open_mode_counts_addresses_and_believes_only_trusted_proxies(tmp_path: Path, trusted: str | None) -> None:
    env = {
        **os.environ,
        "ATTACHE_CACHE_DIR": "off",
        "ATTACHE_DATABASE_URL": "off",
        "ATTACHE_RATE_LIMIT_PER_MINUTE": "5",
    }
    if trusted:
        env["ATTACHE_TRUSTED_PROXIES"] = trusted
    log = tmp_path / "serve.log"
    with serving(env, log) as (base, _):
        quiet_window()
        statuses = [
            httpx.get(f"{base}/agents", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(8)
        ]
    lines = [json.loads(line) for line in log.read_text().splitlines() if '"event":"request"' in line]
    clients = {line["client"] for line in lines if line["path"] == "/agents"}
    if trusted:
        assert statuses == [200] * 8, "each forwarded client has its own budget"
        assert clients == {f"198.51.100.{n}" for n in range(8)}, "and is the address in the logs"
    else:
        assert statuses == [200] * 5 + [429] * 3, "an untrusted X-Forwarded-For is ignored: one peer, one budget"
        assert clients == {"127.0.0.1"}


def test_a_typo_in_trusted_proxies_stops_start_up() -> None:
    with pytest.raises(SettingsError, match=r"ATTACHE_TRUSTED_PROXIES: '10\.0\.0\.0/33'"):
        create_app(settings(trusted_proxies="10.0.0.0/33"))


def test_a_fleet_without_a_shared_caller_secret_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="ATTACHE_CALLER_SECRET: must be set"):
        create_app(settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(SettingsError, match="ATTACHE_CALLER_SECRET: must be set"):
        create_app(settings(database_url="postgresql://u@127.0.0.1:1/db"))


@pytest.fixture
async def limited_client(redis_server: Any) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Litestar]]:
    app = create_app(
        settings(api_keys=KEY, redis_url=redis_server.url, caller_secret=SECRET, rate_limit_per_minute=1000)
    )
    async with AsyncTestClient(app=app) as client:
        yield client, app


async def test_a_stopped_redis_falls_back_to_local_limits_and_comes_back(
    redis_server: Any, limited_client: tuple[AsyncTestClient[Litestar], Litestar], capsys: pytest.CaptureFixture[str]
) -> None:
    client, app = limited_client
    limiter: RateLimiter = app.state.services.limiter
    before = value(samples((await client.get("/metrics")).text), "attache_redis_errors_total")
    assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200
    assert limiter.mode == "redis"
    redis_server.stop()
    for _ in range(5):
        assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200, "still answering"
    assert limiter.mode == "local-fallback"
    assert (await client.get("/health/ready")).status_code == 200, "still ready"
    redis_server.start()
    await asyncio.sleep(1.1)  # the next request after the retry interval tries Redis again
    assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200
    assert limiter.mode == "redis", "back to the shared count by itself"
    metrics = samples((await client.get("/metrics")).text)
    assert value(metrics, "attache_redis_errors_total") - before >= 1
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert events.count("redis unavailable: rate limits are per worker until it answers") == 1, "logged once"
    assert events.count("redis available again: rate limits are shared") == 1


async def test_a_hung_redis_costs_at_most_its_timeout(
    redis_server: Any, limited_client: tuple[AsyncTestClient[Litestar], Litestar]
) -> None:
    client, app = limited_client
    assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200
    redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
    try:
        slowest = 0.0
        for _ in range(20):
            started = time.perf_counter()
            assert (await client.get("/agents", headers=bearer(KEY))).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
    finally:
        redis_server.resume()
    print(f"slowest request with Redis stopped: {slowest * 1000:.0f} ms (Redis timeout {REDIS_TIMEOUT * 1000:.0f} ms)")
    # Not a timing benchmark: the bound is "does not hang on Redis", with room for a loaded machine.
    assert slowest < 1.0
    assert app.state.services.limiter.mode == "local-fallback"


def rss_mb(pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    total = 0
    for process in [pid, *map(int, children)]:
        status = Path(f"/proc/{process}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


@pytest.mark.parametrize("mode", ["junk keys", "junk addresses"])
def test_ten_thousand_junk_callers_leave_no_limiter_state(redis_server: Any, tmp_path: Path, mode: str) -> None:
    env = {**os.environ, "ATTACHE_CACHE_DIR": "off", "ATTACHE_DATABASE_URL": "off"}
    env |= {"ATTACHE_REDIS_URL": redis_server.url, "ATTACHE_CALLER_SECRET": SECRET}
    if mode == "junk keys":
        env["ATTACHE_API_KEYS"] = KEY
    with serving(env, tmp_path / "serve.log") as (base, proc):

        async def flood(count: int) -> list[int]:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                junk = [
                    {"Authorization": f"Bearer junk-{n:030d}"}
                    if mode == "junk keys"
                    else {"X-Forwarded-For": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"}
                    for n in range(count)
                ]
                statuses: list[int] = []
                for start in range(0, count, 50):
                    batch = await asyncio.gather(*(client.get("/agents", headers=h) for h in junk[start : start + 50]))
                    statuses += [r.status_code for r in batch]
                return statuses

        asyncio.run(flood(500))  # warm up: caches, pools, lazy imports
        before = rss_mb(proc.pid)
        statuses = asyncio.run(flood(10_000))
        after = rss_mb(proc.pid)
    print(f"{mode}: RSS {before:.1f} MB before 10,000 junk callers, {after:.1f} MB after")
    if mode == "junk keys":
        assert set(statuses) == {401}
        assert keys_in(redis_server) == 0, "an unknown key is charged nowhere"
    else:
        assert 429 in statuses, "an untrusted X-Forwarded-For changes nothing: one peer, one budget"
        keys = redis.Redis.from_url(redis_server.url, decode_responses=True).keys("*")
        callers = {str(key).rsplit(":", 1)[0] for key in keys}  # `<prefix>:<caller>:<minute>`
        assert len(callers) == 1, keys
