"""`POST /assess` end to end through the HTTP API, the provider replayed from `cassettes/`.

Re-record the news scenarios against a real provider (see cassettes/README.md):
    OPENAI_API_KEY=sk-... make cassettes-live
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import DEFAULT_REGISTRY_DIR, Settings
from tests.conftest import CASSETTES
from tools.news import SAMPLE
from tools.scenarios import BY_NAME, Scenario, assessment

Client = AsyncTestClient[Litestar]
NEWS = [s for s in BY_NAME.values() if s.live]


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Scenario:
    chosen: Scenario = request.param
    return chosen


@pytest.fixture
def default_cassette_name(scenario: Scenario) -> str:
    return scenario.name


@pytest.fixture
def replaying(request: pytest.FixtureRequest) -> bool:
    """False while `make cassettes-live` re-records against a real provider, whose answers differ."""
    return bool(request.config.getoption("--record-mode") in (None, "none"))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(
        cache_dir=str(tmp_path / "cache"),
        openai_api_key=os.environ.get("OPENAI_API_KEY") or "sk-test-replay-not-a-real-key",
        openai_base_url="https://api.openai.com/v1",
        llm_timeout=120,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def recorded_usage(scenario: Scenario) -> tuple[int, int]:
    import yaml

    cassette = yaml.safe_load(scenario.cassette.read_text(encoding="utf-8"))
    usages = [i["response"]["parsed_body"].get("usage") for i in cassette["interactions"]]
    return sum(u["prompt_tokens"] for u in usages if u), sum(u["completion_tokens"] for u in usages if u)


@pytest.mark.vcr
@pytest.mark.parametrize("scenario", NEWS, indirect=True, ids=lambda s: s.name)
async def test_a_persona_answers_with_the_typed_envelope(client: Client, scenario: Scenario, replaying: bool) -> None:
    response = await client.post("/assess", json=scenario.body, headers={"X-Request-ID": f"req-{scenario.name}"})
    assert response.status_code == 200, response.text
    envelope = response.json()
    agent_id = scenario.body["agent"].partition("@")[0]

    assert response.headers["x-request-id"] == f"req-{scenario.name}", "the caller's id is kept for correlation"
    assert re.fullmatch(r"[0-9a-f]{32}", envelope["id"]), "the assessment's id is always Attaché's own"
    assert envelope["agent"]["id"] == agent_id
    assert envelope["agent"]["organization"] == "Three Corporate"
    assert envelope["agent"]["callsign"] == agent_id.upper()
    version = (await client.get(f"/agents/{agent_id}/versions/{envelope['prompt']['version']}")).json()
    assert envelope["prompt"]["sha256"] == version["sha256"] == response.headers["attache-prompt-sha256"]
    assert envelope["prompt"]["version"] == response.headers["attache-prompt-version"]
    file = DEFAULT_REGISTRY_DIR / agent_id / f"{envelope['prompt']['version']}.yaml"
    assert envelope["prompt"]["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert envelope["model"].startswith("gpt-4o")
    assert envelope["usage"]["attempts"] >= 1
    assert envelope["latency_ms"] > 0
    assert re.match(r"^\d{4}-\d{2}-\d{2}T", envelope["created_at"])
    assert "deprecation" not in response.headers
    if "@" not in scenario.body["agent"] or scenario.body["agent"].endswith("@stable"):
        assert envelope["prompt"]["label"] == "stable"
    if replaying:
        assert envelope["usage"] == {
            "input_tokens": recorded_usage(scenario)[0],
            "output_tokens": recorded_usage(scenario)[1],
            "attempts": 1,
        }
        # The assessment is the model's answer, validated, untouched.
        assert envelope["assessment"] == assessment(scenario.name)


def sample_headings() -> list[str]:
    """The headings of the one real sample, in order: title, layers, outlook, echo."""
    # The sample separates numbers from headings with no-break spaces; Markdown uses plain ones.
    lines = [line.replace("\xa0", " ").strip() for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [
        line
        for line in lines
        if line.startswith("🇯🇵 JP-01 Assessment")
        or re.match(r"^\S+ \d\. ", line)
        or line in ("🔮 JP-01 Forward Outlook", "📖 Literary Echo")
    ]


@pytest.mark.vcr
@pytest.mark.parametrize("scenario", [BY_NAME["jp-01-us-japan-critical-minerals"]], indirect=True, ids=lambda s: s.name)
async def test_markdown_reproduces_the_sample_layout(client: Client, scenario: Scenario) -> None:
    response = await client.post("/assess", json=scenario.body, headers={"Accept": "text/markdown"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    markdown = response.text
    headings = sample_headings()
    assert len(headings) == 8, headings  # title, five layers, outlook, literary echo
    position = 0
    for heading in headings:
        found = markdown.find(heading, position)
        assert found >= 0, f"{heading!r} missing or out of order"
        position = found
    assert markdown.startswith("# 🇯🇵 JP-01 Assessment: Strategic Layers of the U.S.–Japan Critical Minerals Accord")
    assert "geoeconomic inflection point—not merely a bilateral trade agreement" in markdown
    assert "文明が発展すればするほど" in markdown
    assert "— Ango Sakaguchi, _Discourse on Decadence (堕落論)_ (1946)" in markdown
    assert markdown.rstrip().endswith("**JP-01, Japan Agent**\nThree Corporate")


@pytest.mark.vcr
@pytest.mark.parametrize("scenario", [BY_NAME["reask-recovers"]], indirect=True, ids=lambda s: s.name)
async def test_a_reask_recovers_and_every_attempt_is_counted(client: Client, scenario: Scenario) -> None:
    response = await client.post("/assess", json=scenario.body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["prompt"] == {
        "version": "1.1.0",
        "label": "canary",
        "sha256": hashlib.sha256((DEFAULT_REGISTRY_DIR / "jp-01" / "1.1.0.yaml").read_bytes()).hexdigest(),
    }
    assert envelope["usage"] == {"input_tokens": 1950 + 4305, "output_tokens": 2210 + 1688, "attempts": 2}
    assert len(envelope["assessment"]["outlook"]) == 4


@pytest.mark.vcr
@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        (BY_NAME["output-truncated"], 502, "output_truncated"),
        (BY_NAME["model-refused"], 422, "model_refused"),
    ],
    indirect=["scenario"],
    ids=["output-truncated", "model-refused"],
)
async def test_final_model_failures_are_not_reasked(client: Client, scenario: Scenario, status: int, code: str) -> None:
    response = await client.post("/assess", json=scenario.body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["attempts"] == 1, "a cut-off or refused answer is final: one provider call"
    assert "x-request-id" in response.headers


@pytest.mark.vcr
@pytest.mark.parametrize("scenario", [BY_NAME["rate-limited-then-ok"]], indirect=True, ids=lambda s: s.name)
async def test_a_429_is_retried_after_the_providers_retry_after(client: Client, scenario: Scenario) -> None:
    response = await client.post("/assess", json=scenario.body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["attempts"] == 2
    assert response.json()["assessment"]["title"].startswith("AU-01 Assessment")


def test_cassettes_hold_no_credentials() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert len(cassettes) == len(BY_NAME)
    for path in cassettes:
        text = path.read_text(encoding="utf-8").lower()
        for secret in ("authorization", "bearer ", "api-key", "sk-", "openai-organization", "set-cookie"):
            assert secret not in text, f"{path.name} contains {secret!r}"
