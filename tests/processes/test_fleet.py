"""A fleet, tested as a fleet: two `attache serve` replicas (2 workers each) on loopback,
sharing one real Redis and one real PostgreSQL, behave as one service.

The stand-in provider runs in this process, so every model call is counted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import serving
from tools.bursts import admitted_in_one_burst, quiet_window
from tools.news import CN01_REQUEST, JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

LIMIT = 12
KEYS = [f"ck-fleet-{n:02d}-0f1e2d3c4b5a69788796a5b4c3d2e1f0" for n in range(6)]
ACCURACY_KEY, ACCURACY_LIMIT = KEYS[5], 100


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def replica(name: str, tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    with serving(env, tmp_path / f"{name}.log", "--workers", "2", seconds=90) as (base, _):
        yield base


def statuses(requests: list[tuple[str, str, dict[str, Any] | None]], key: str) -> list[int]:
    """Send (base, path, body) requests one after another; their statuses."""
    found = []
    for base, path, body in requests:
        if body is None:
            response = httpx.get(f"{base}{path}", headers=auth(key), timeout=30)
        else:
            response = httpx.post(f"{base}{path}", json=body, headers=auth(key), timeout=30)
        found.append(response.status_code)
    return found


def spread(a: str, b: str, count: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    """`count` requests alternating replicas and endpoints: /agents and /assess alike."""
    plan: list[tuple[str, str, dict[str, Any] | None]] = []
    for n in range(count):
        base = a if n % 2 else b
        plan.append((base, "/assess", CN01_REQUEST) if n % 3 == 0 else (base, "/agents", None))
    return plan


def test_two_replicas_behave_as_one_service(tmp_path: Path, postgres: Any) -> None:
    from tools.servers import RedisServer

    with ExitStack() as stack:
        provider = stack.enter_context(
            StandIn(default=Reply.completion(assessment("cn-01-rare-earth-export-controls")))
        )
        redis = RedisServer()
        stack.callback(redis.close)
        redis.start()
        env = {
            **os.environ,
            "OPENAI_BASE_URL": provider.base_url,
            "OPENAI_API_KEY": "sk-test-fleet",
            "ATTACHE_DATABASE_URL": postgres.database(),
            "ATTACHE_REDIS_URL": redis.url,
            "ATTACHE_CALLER_SECRET": "one-secret-shared-by-every-replica-0123",
            "ATTACHE_API_KEYS": ",".join(KEYS),
            "ATTACHE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
            "ATTACHE_RESPONSE_CACHE_TTL": "0",
            "ATTACHE_CACHE_DIR": str(tmp_path / "cache"),
        }
        a = stack.enter_context(replica("a", tmp_path, env))
        b = stack.enter_context(replica("b", tmp_path, env))

        # The rate limit holds across both replicas and all four workers, on /assess and /agents alike.
        quiet_window(30)
        assert statuses(spread(a, b, LIMIT), KEYS[0]) == [200] * LIMIT
        assert statuses([(a, "/agents", None), (b, "/assess", JP01_SAMPLE_REQUEST)], KEYS[0]) == [429, 429]

        # One Idempotency-Key, sent to A and then to B: one model call; B replays A's answer.
        calls = len(provider.received)
        headers = {**auth(KEYS[1]), "Idempotency-Key": "fleet-order-1"}
        first = httpx.post(f"{a}/assess", json=JP01_SAMPLE_REQUEST, headers=headers, timeout=30)
        again = httpx.post(f"{b}/assess", json=JP01_SAMPLE_REQUEST, headers=headers, timeout=30)
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert len(provider.received) == calls + 1

        # Made on A, fetched from B; started async on A, polled on B.
        assert httpx.get(f"{b}/assessments/{first.json()['id']}", headers=auth(KEYS[1])).content == first.content
        accepted = httpx.post(
            f"{a}/assess", json=CN01_REQUEST, headers={**auth(KEYS[1]), "Prefer": "respond-async"}, timeout=30
        )
        assert accepted.status_code == 202
        deadline = time.monotonic() + 30
        while (polled := httpx.get(f"{b}{accepted.headers['location']}", headers=auth(KEYS[1]))).status_code == 202:
            assert time.monotonic() < deadline, "the async assessment never finished"
            time.sleep(0.1)
        assert polled.status_code == 200

        # Redis stops: both replicas keep answering, each worker counting locally.
        redis.stop()
        assert statuses(spread(a, b, 8), KEYS[2]) == [200] * 8
        for base in (a, b):
            assert httpx.get(f"{base}/health/ready").status_code == 200, "still ready"
        # Redis is back: each worker's next request after its retry interval uses it again.
        redis.start()
        time.sleep(1.2)
        quiet_window(30)
        assert statuses(spread(a, b, LIMIT + 2), KEYS[4]) == [200] * LIMIT + [429, 429]

        # Accuracy: a burst of 3N concurrent requests over both replicas admits N, and 1 % more at most.
        env["ATTACHE_RATE_LIMIT_PER_MINUTE"] = str(ACCURACY_LIMIT)
        c = stack.enter_context(replica("c", tmp_path, env))
        d = stack.enter_context(replica("d", tmp_path, env))
        quiet_window(30)
        admitted = admitted_in_one_burst([c, d], ACCURACY_KEY, 3 * ACCURACY_LIMIT)
        print(f"rate-limit accuracy: {admitted} admitted of {3 * ACCURACY_LIMIT} for a limit of {ACCURACY_LIMIT}")
        assert ACCURACY_LIMIT <= admitted <= ACCURACY_LIMIT * 1.01
