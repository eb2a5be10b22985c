"""What an SRE sees: /metrics after real traffic, JSON log lines, readiness, several workers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.settings import Settings
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

Client = AsyncTestClient[Litestar]
KEY = "sk-test-observability-0123456789"
VALID = assessment("jp-01-us-japan-critical-minerals")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


def label_values(found: Samples, label: str) -> set[str]:
    return {dict(ls)[label] for (_, ls) in found if label in dict(ls)}


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


@pytest.fixture
async def client(provider: StandIn, tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(
        cache_dir=str(tmp_path / "cache"),
        openai_base_url=provider.base_url,
        openai_api_key=KEY,
        llm_timeout=10,
        response_cache_ttl=0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_model_calls_and_assessments_are_counted_once_each(client: Client, provider: StandIn) -> None:
    before = await scrape(client)
    invalid = {**VALID, "outlook": VALID["outlook"][:1]}
    provider.push(Reply.completion(invalid, usage=(100, 50)), Reply.completion(VALID, usage=(200, 80)))
    provider.push(Reply.error(500, "boom", "server_error"), Reply.error(500, "boom", "server_error"))
    provider.push(Reply.error(500, "boom", "server_error"))

    assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST)).status_code == 200
    assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST)).status_code == 502
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    jp = {"agent": "jp-01", "version": "1.0.0"}
    assert delta("attache_assessments_total", **jp, outcome="ok") == 1
    assert delta("attache_assessments_total", **jp, outcome="upstream_unavailable") == 1
    assert delta("attache_schema_reasks_total", **jp) == 1
    assert delta("attache_assessment_duration_seconds_count", **jp) == 2
    model = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "gpt-4o-2024-08-06"}
    # Every provider call once: two answers (one re-asked) and three failed calls.
    assert delta("gen_ai_client_operation_duration_seconds_count", **model) == 5
    assert delta("gen_ai_client_operation_duration_seconds_count", **model, error_type="upstream_unavailable") == 3
    assert delta("gen_ai_client_token_usage_sum", **model, gen_ai_token_type="input") == 300
    assert delta("gen_ai_client_token_usage_sum", **model, gen_ai_token_type="output") == 130
    assert value(after, "gen_ai_client_operation_duration_seconds_bucket", le="163.84") > 0
    assert value(after, "attache_assessments_in_flight") == 0
    assert value(after, "attache_build_info") == 1
    assert value(after, "attache_registry_personas") == 8  # seven desks and the judge
    assert "openai_compatible" in label_values(after, "gen_ai_provider_name")  # a loopback endpoint


async def test_label_values_stay_bounded(client: Client, provider: StandIn) -> None:
    for n in range(20):
        await client.get(f"/agents/zz-{n:02d}")
        await client.get(f"/agents/jp-01/versions/9.{n}.0")
        await client.get(f"/no/such/path/{n}")
        await client.post("/assess", json={**JP01_SAMPLE_REQUEST, "agent": f"zz-{n:02d}"})
        await client.post("/assess", json={**JP01_SAMPLE_REQUEST, "agent": f"jp-01@9.{n}.0"})
    found = await scrape(client)
    assert not any("zz-" in v or "9." in v or "/no/such" in v for label in ("agent", "version", "path")
                   for v in label_values(found, label))  # fmt: skip
    assert "/agents/{agent_id}" in label_values(found, "path")
    assert label_values(found, "agent") <= {"jp-01", "us-01", "cn-01", "kr-01", "in-01", "eu-01", "au-01", "qa-01"}
    assert provider.received == []


async def test_probes_and_scrapes_are_not_traffic(client: Client) -> None:
    for _ in range(5):
        await client.get("/health/ready")
        await client.get("/health/live")
        await client.get("/metrics")
    paths = label_values(await scrape(client), "path")
    assert not {p for p in paths if p.startswith(("/health", "/metrics"))}


async def test_readiness_reports_registry_and_provider(client: Client) -> None:
    ready = (await client.get("/health/ready")).json()
    assert ready["status"] == "ready"
    assert ready["provider"] == {"configured": True, "name": "openai_compatible"}
    assert ready["registry"]["versions"] == 9  # eight desk versions and the judge's


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_logs_are_json_lines_with_request_facts_and_no_text_or_secrets(
    client: Client, provider: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    provider.push(Reply.completion(VALID, usage=(1893, 1688)))
    capsys.readouterr()
    response = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers={"X-Request-ID": "req-log-1"})
    assert response.status_code == 200
    await client.get("/agents/zz-99")
    out = capsys.readouterr().out
    lines = json_lines(out)
    assert len(lines) == len(out.strip().splitlines()), "every line is one JSON object"
    [call] = [line for line in lines if line["event"] == "model call"]
    assert call["request_id"] == "req-log-1"
    assert (call["agent"], call["version"], call["outcome"]) == ("jp-01", "1.0.0", "ok")
    assert (call["input_tokens"], call["output_tokens"]) == (1893, 1688)
    requests = [line for line in lines if line["event"] == "request"]
    assert requests[0] | {"latency_ms": 0, "time": ""} == requests[0] | {
        "request_id": "req-log-1",
        "method": "POST",
        "path": "/assess",
        "route": "/assess",
        "status": 200,
        "agent": "jp-01",
        "version": "1.0.0",
        "outcome": "ok",
        "model": "gpt-4o-2024-08-06",
        "attempts": 1,
        "latency_ms": 0,
        "time": "",
    }
    assert requests[0]["sha256"] == response.json()["prompt"]["sha256"]
    assert requests[1]["status"] == 404
    assert requests[1]["problem"] == "unknown_agent"
    assert "agent" not in requests[1], "one request's facts never leak into the next"
    for secret_or_text in (KEY, "Akasaka Palace", "geoeconomic inflection point", "Sakaguchi"):
        assert secret_or_text not in out
