"""The store across real processes: restarts, a killed worker, concurrent retries, SIGTERM.

Each test runs `attache serve` as real processes on loopback, with the stand-in provider in
this process (so its calls can be counted) and the store on SQLite or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.conftest import serving as attache_serving
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

VALID = assessment("jp-01-us-japan-critical-minerals")


@contextmanager
def serving(
    tmp_path: Path,
    provider: StandIn,
    database_url: str,
    *,
    name: str = "serve",
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    environ = {
        **os.environ,
        "OPENAI_BASE_URL": provider.base_url,
        "OPENAI_API_KEY": "sk-test-processes",
        "ATTACHE_DATABASE_URL": database_url,
        "ATTACHE_CACHE_DIR": "off",
        "ATTACHE_RESPONSE_CACHE_TTL": "0",
        "ATTACHE_CALLER_SECRET": "a-shared-caller-secret-for-every-replica",
        **(env or {}),
    }
    with attache_serving(environ, tmp_path / f"{name}.log", "--workers", str(workers), port=port) as served:
        yield served


def poll(url: str, seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(url, timeout=10)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_a_kept_answer_survives_a_restart(tmp_path: Path, database_url: str) -> None:
    with StandIn(default=Reply.completion(VALID)) as provider:
        with serving(tmp_path, provider, database_url) as (base, _):
            answered = httpx.post(f"{base}/assess", json=JP01_SAMPLE_REQUEST, timeout=30)
        assert answered.status_code == 200
        with serving(tmp_path, provider, database_url, name="again") as (base, _):
            kept = httpx.get(f"{base}/assessments/{answered.json()['id']}", timeout=10)
    assert kept.status_code == 200
    assert kept.content == answered.content


def test_a_killed_workers_async_assessment_ends_interrupted(tmp_path: Path, database_url: str) -> None:
    lease = {"ATTACHE_ASYNC_LEASE_SECONDS": "2"}
    with (
        StandIn(default=Reply.completion(VALID, delay=60)) as provider,
        serving(tmp_path, provider, database_url, name="a", env=lease) as (a, worker),
        serving(tmp_path, provider, database_url, name="b", env=lease) as (b, _),
    ):
        accepted = httpx.post(f"{a}/assess", json=JP01_SAMPLE_REQUEST, headers={"Prefer": "respond-async"})
        assert accepted.status_code == 202
        location = accepted.headers["location"]
        assert httpx.get(f"{b}{location}").status_code == 202, "pending, and visible from the other replica"
        worker.send_signal(signal.SIGKILL)  # an OOM kill: no drain, no goodbye
        worker.wait(timeout=10)
        ended = poll(f"{b}{location}", seconds=15)
    assert ended.status_code == 503
    assert ended.json()["code"] == "interrupted"
    assert ended.headers["content-type"].startswith("application/problem+json")


def test_concurrent_retries_with_one_key_make_one_model_call(tmp_path: Path, database_url: str) -> None:
    with (
        StandIn(default=Reply.completion(VALID, delay=1.0)) as provider,
        serving(tmp_path, provider, database_url, workers=2) as (base, _),
    ):

        async def burst() -> list[httpx.Response]:
            headers = {"Idempotency-Key": "one-order-one-answer"}
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                requests = (client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers) for _ in range(8))
                return list(await asyncio.gather(*requests))

        responses = asyncio.run(burst())
        replay = httpx.post(
            f"{base}/assess", json=JP01_SAMPLE_REQUEST, headers={"Idempotency-Key": "one-order-one-answer"}
        )
    assert len(provider.received) == 1, "exactly one model call"
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["code"] == "request_in_progress"
        assert refused.headers["retry-after"] == "1"
    winner = next(r for r in responses if r.status_code == 200)
    assert replay.content == winner.content
    assert replay.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(("grace", "outcome"), [("10", 200), ("0.5", 503)])
def test_sigterm_drains_async_work_or_marks_it_interrupted(
    tmp_path: Path, database_url: str, grace: str, outcome: int
) -> None:
    env = {"ATTACHE_SHUTDOWN_GRACE": grace}
    with StandIn(default=Reply.completion(VALID, delay=2.0)) as provider:
        with serving(tmp_path, provider, database_url, env=env) as (base, proc):
            accepted = httpx.post(f"{base}/assess", json=JP01_SAMPLE_REQUEST, headers={"Prefer": "respond-async"})
            assert accepted.status_code == 202
            time.sleep(0.3)  # the model call is under way
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        with serving(tmp_path, provider, database_url, name="after") as (base, _):
            kept = httpx.get(f"{base}{accepted.headers['location']}")
    assert kept.status_code == outcome, kept.text
    if outcome != 200:
        assert kept.json()["code"] == "interrupted", "never left pending"
