"""The constrained modes, against the stand-in: what is sent, what is read, when a re-ask is not sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from schemas import Assessment
from schemas.dialects import constrained_schema
from service.app import create_app
from service.provider.context_window import MESSAGE_OVERHEAD
from service.settings import Settings
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Received, Reply, StandIn

VALID = assessment("jp-01-us-japan-critical-minerals")
INVALID = {**VALID, "outlook": VALID["outlook"][:1]}


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


def settings_for(provider: StandIn, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"cache_dir": str(tmp_path / "cache"), "openai_base_url": provider.base_url}
    values |= {"llm_timeout": 10, "response_cache_ttl": 0, "database_url": "off", **overrides}  # every call reaches it
    return Settings(**values)


def answer(content: Any, usage: tuple[int, int] = (985, 1888)) -> Reply:
    return Reply.completion(content, as_content=True, finish_reason="stop", usage=usage, model="SmolLM2-135M")


async def post(provider: StandIn, tmp_path: Path, **overrides: Any) -> Any:
    async with AsyncTestClient(app=create_app(settings_for(provider, tmp_path, **overrides))) as client:
        return await client.post("/assess", json=JP01_SAMPLE_REQUEST)


def lengths_in(node: Any) -> bool:
    text = json.dumps(node)
    return "maxLength" in text or "minLength" in text


async def test_json_object_schema_sends_the_constrained_schema_beside_json_object(
    provider: StandIn, tmp_path: Path
) -> None:
    provider.push(answer(INVALID), answer(VALID))
    response = await post(provider, tmp_path, llm_mode="json_object_schema")
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["attempts"] == 2, "instructor's re-ask still works"
    first, reask = (received.json() for received in provider.received)
    for sent in (first, reask):
        assert sent["response_format"] == {"type": "json_object", "schema": constrained_schema(Assessment)}
        assert "tools" not in sent
    assert first["response_format"]["schema"]["$defs"]["Section"]["properties"]["heading"]["maxLength"] == 160
    # The server decodes under the schema, so it is not also pasted into the prompt.
    assert "json_schema" not in first["messages"][0]["content"]
    echoed = json.dumps(INVALID, ensure_ascii=False, separators=(",", ":"))
    assert reask["messages"][-2] == {"role": "assistant", "content": echoed}, "the answer is echoed untouched"
    assert "outlook" in reask["messages"][-1]["content"], "the re-ask names the failing field"


async def test_json_schema_mode_sends_the_constrained_dialect(provider: StandIn, tmp_path: Path) -> None:
    provider.push(answer(VALID))
    response = await post(provider, tmp_path, llm_mode="json_schema")
    assert response.status_code == 200, response.text
    sent = provider.received[0].json()["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Assessment"
    assert sent["json_schema"]["schema"] == constrained_schema(Assessment)


@pytest.mark.parametrize("mode", ["tools", "tools_strict", "json", "md_json"])
async def test_the_other_modes_keep_the_published_dialect(provider: StandIn, tmp_path: Path, mode: str) -> None:
    tools = mode.startswith("tools")
    provider.push(Reply.completion(VALID, as_content=not tools, finish_reason="tool_calls" if tools else "stop"))
    response = await post(provider, tmp_path, llm_mode=mode)
    assert response.status_code == 200, response.text
    sent = provider.received[0].json()
    assert not lengths_in(sent.get("tools")), "strict mode rejects string lengths"
    assert not lengths_in(sent.get("response_format"))


async def test_what_is_not_json_at_all_is_still_reasked(provider: StandIn, tmp_path: Path) -> None:
    provider.push(answer("{'title': 'oops'"), answer(VALID))
    response = await post(provider, tmp_path, llm_mode="json_object_schema")
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["attempts"] == 2


def reask_size(received: Received, first_usage: tuple[int, int], max_tokens: int) -> int:
    """What service.provider.context_window counts for the re-ask that was sent."""
    added = received.json()["messages"][2:]
    assert [m["role"] for m in added] == ["assistant", "user"]
    user = len(msgspec.json.encode(added[1]["content"]))
    return first_usage[0] + first_usage[1] + MESSAGE_OVERHEAD + user + MESSAGE_OVERHEAD + max_tokens


async def test_a_reask_is_sent_only_while_it_fits_the_context_window(provider: StandIn, tmp_path: Path) -> None:
    usage = (985, 1888)
    provider.push(answer(INVALID, usage), answer(VALID))
    sent = await post(provider, tmp_path, llm_mode="json_object_schema", llm_context_tokens=100_000)
    assert sent.status_code == 200, sent.text
    needed = reask_size(provider.received[1], usage, max_tokens=4096)

    provider.received.clear()
    provider.push(answer(INVALID, usage), answer(VALID))
    exact = await post(provider, tmp_path, llm_mode="json_object_schema", llm_context_tokens=needed)
    assert exact.status_code == 200, "a re-ask that just fits is sent"
    assert len(provider.received) == 2

    provider.received.clear()
    provider.script.clear()
    provider.push(answer(INVALID, usage), answer(VALID))
    short = await post(provider, tmp_path, llm_mode="json_object_schema", llm_context_tokens=needed - 1)
    assert short.status_code == 502, short.text
    assert short.json()["code"] == "invalid_model_output"
    assert short.json()["attempts"] == 1
    assert f"({needed} of {needed - 1} tokens" in short.json()["detail"]
    assert len(provider.received) == 1, "the re-ask that cannot fit is not sent"
