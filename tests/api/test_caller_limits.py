"""Callers: API keys, per-key rate limits, request limits, admission control."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import problem
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

KEYS = ("ck-alpha-7f3e9a2b1c4d5e6f7a8b9c0d1e2f3a4b", "ck-beta-5d8e2f1a0b9c8d7e6f5a4b3c2d1e0f9a")
VALID = assessment("jp-01-us-japan-critical-minerals")


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn(default=Reply.completion(VALID)) as standin:
        yield standin


def settings(provider: StandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cache_dir": "off",
        "openai_base_url": provider.base_url,
        "openai_api_key": "sk-test",
        "api_keys": ",".join(KEYS),
        **overrides,
    }
    return Settings(**values)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_api_routes_need_a_key_and_the_rest_stays_open(provider: StandIn) -> None:
    async with AsyncTestClient(app=create_app(settings(provider))) as client:
        for method, path in (("GET", "/agents"), ("GET", "/agents/jp-01"), ("GET", "/agents/jp-01/versions/stable")):
            missing = await client.request(method, path)
            problem(missing, 401, "unauthorized")
            assert missing.headers["www-authenticate"] == 'Bearer realm="attache"'
            wrong = await client.request(method, path, headers=bearer(KEYS[0][:-1] + "c"))
            problem(wrong, 401, "unauthorized")
            assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
            assert (await client.request(method, path, headers=bearer(KEYS[1]))).status_code == 200
        problem(await client.post("/assess", json=JP01_SAMPLE_REQUEST), 401, "unauthorized")
        assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=bearer(KEYS[0]))).status_code == 200
        for open_path in ("/health/live", "/health/ready", "/metrics", "/docs", "/docs/openapi.json"):
            assert (await client.get(open_path)).status_code == 200, open_path
        metrics = (await client.get("/metrics")).text
    for key in KEYS:
        assert key not in metrics
    assert len(provider.received) == 1, "an unauthenticated request never reaches the provider"


async def test_keys_can_come_from_a_mounted_file(provider: StandIn, tmp_path: Path) -> None:
    secret = tmp_path / "api-keys"
    secret.write_text(f"{KEYS[0]}\n\n{KEYS[1]}\n")
    app = create_app(settings(provider, api_keys=None, api_keys_file=str(secret)))
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/agents", headers=bearer(KEYS[1]))).status_code == 200
        problem(await client.get("/agents", headers=bearer(str(secret))), 401, "unauthorized")


async def test_open_mode_warns_at_start_up(provider: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    async with AsyncTestClient(app=create_app(settings(provider, api_keys=None))) as client:
        assert (await client.get("/agents")).status_code == 200
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"warning"' in line]
    assert any("ATTACHE_API_KEYS_FILE is set" in line["event"] for line in warnings)


async def test_each_key_has_its_own_rate_limit(provider: StandIn) -> None:
    async with AsyncTestClient(app=create_app(settings(provider, rate_limit_per_minute=3))) as client:
        for _ in range(3):
            ok = await client.get("/agents", headers=bearer(KEYS[0]))
            assert ok.status_code == 200
        assert ok.headers["ratelimit-remaining"] == "0"
        limited = await client.get("/agents", headers=bearer(KEYS[0]))
        problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == "3"
        assert (await client.get("/agents", headers=bearer(KEYS[1]))).status_code == 200, "another key is unaffected"
        assert (await client.get("/health/ready")).status_code == 200, "probes are never limited"


async def test_body_size_and_text_limits(provider: StandIn) -> None:
    app = create_app(settings(provider, api_keys=None, max_body_bytes=4096))
    async with AsyncTestClient(app=app) as client:
        huge = {**JP01_SAMPLE_REQUEST, "context": "x" * 5000}
        problem(await client.post("/assess", json=huge), 413, "payload_too_large")
        invalid_utf8 = b'{"agent": "jp-01", "context": "caf\xe9"}'
        headers = {"Content-Type": "application/json"}
        problem(await client.post("/assess", content=invalid_utf8, headers=headers), 400, "invalid_request")
        control = {**JP01_SAMPLE_REQUEST, "context": "tariffs\u0000rose"}
        body = problem(await client.post("/assess", json=control), 400, "invalid_request")
        assert body["errors"][0]["key"] == "context"
        not_json = await client.post("/assess", content=b"agent=jp-01", headers=headers)
        problem(not_json, 400, "invalid_request")
    assert provider.received == []
