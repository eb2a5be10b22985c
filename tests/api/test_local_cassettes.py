"""`POST /assess` replayed from `cassettes/local/`: exchanges recorded from a real model on a real server.

SmolLM2-135M-Instruct under llama-cpp-python's server, in `json_object_schema` mode
(`make cassettes-local`, tools/record_local_cassettes.py). Unlike the authored cassettes,
every byte here came from the server: the assessment is the model's own, validated.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas import Assessment
from service.app import create_app
from service.settings import Settings
from tests.conftest import CASSETTES
from tools import local_model
from tools.scenarios import BY_NAME, Scenario

LOCAL = CASSETTES / "local"
RECORDED = sorted(path.stem for path in LOCAL.glob("*.yaml"))
Client = AsyncTestClient[Litestar]


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(LOCAL)


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Scenario:
    chosen: Scenario = BY_NAME[request.param]
    return chosen


@pytest.fixture
def default_cassette_name(scenario: Scenario) -> str:
    return scenario.name


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    # The address it was recorded from; nothing listens there now: VCR answers.
    env = local_model.attache_env(f"http://127.0.0.1:{local_model.LOCAL_PORT}/v1")
    env |= {"ATTACHE_CACHE_DIR": str(tmp_path / "cache"), "ATTACHE_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(env)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def recorded(scenario: Scenario) -> list[dict[str, Any]]:
    cassette = yaml.safe_load((LOCAL / f"{scenario.name}.yaml").read_text(encoding="utf-8"))
    interactions: list[dict[str, Any]] = cassette["interactions"]
    return interactions


def test_the_news_scenarios_are_recorded_from_the_local_model() -> None:
    assert sorted(s.name for s in BY_NAME.values() if s.live) == RECORDED
    for name in RECORDED:
        for interaction in recorded(BY_NAME[name]):
            sent = interaction["request"]["parsed_body"]
            assert sent["model"] == local_model.MODEL_NAME
            assert sent["response_format"]["type"] == "json_object"
            assert "maxLength" in json.dumps(sent["response_format"]["schema"]), "the constrained dialect"
            assert interaction["response"]["parsed_body"]["model"] == local_model.MODEL_NAME
        text = (LOCAL / f"{name}.yaml").read_text(encoding="utf-8").lower()
        for secret in ("authorization", "bearer ", "api-key", "sk-", "set-cookie"):
            assert secret not in text, f"{name}.yaml contains {secret!r}"


@pytest.mark.vcr
@pytest.mark.parametrize("scenario", RECORDED, indirect=True)
async def test_a_recorded_answer_replays_as_the_typed_envelope(client: Client, scenario: Scenario) -> None:
    response = await client.post("/assess", json=scenario.body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    interactions = recorded(scenario)
    usages = [i["response"]["parsed_body"]["usage"] for i in interactions]
    assert envelope["model"] == local_model.MODEL_NAME
    assert envelope["usage"] == {
        "input_tokens": sum(u["prompt_tokens"] for u in usages),
        "output_tokens": sum(u["completion_tokens"] for u in usages),
        "attempts": len(interactions),
    }
    # The assessment is the model's last answer, validated (the validators strip surrounding blanks).
    content = interactions[-1]["response"]["parsed_body"]["choices"][0]["message"]["content"]
    answer = Assessment.model_validate(json.loads(content, strict=False))
    assert envelope["assessment"] == answer.model_dump(mode="json")
