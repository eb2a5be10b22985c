"""Author the cassettes in `cassettes/` from the scenarios, without a real provider.

    make cassettes

Each scenario runs through the real app (real registry, real instructor, real openai SDK)
against the stand-in provider on 127.0.0.1. What the SDK sent and what the stand-in
answered is written in VCR's cassette format, with the URL set to OpenAI's and no
credentials, exactly as a recording against api.openai.com would store it. To record the
news scenarios against a real provider instead, see cassettes/README.md.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tools.cassette_format import SECRET_HEADERS, serialize
from tools.scenarios import SCENARIOS, Scenario
from tools.standin import Reply, StandIn

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
KEPT_REQUEST_HEADERS = ("content-type", "accept")


def interaction(received: Any, reply: Reply) -> dict[str, Any]:
    headers = {k: [v] for k, v in received.headers.items() if k in KEPT_REQUEST_HEADERS}
    assert not set(headers) & set(SECRET_HEADERS)
    return {
        "request": {"method": received.method, "uri": OPENAI_URL, "body": received.body.decode(), "headers": headers},
        "response": {
            "status": {"code": reply.status, "message": "OK" if reply.status == 200 else "Error"},
            "headers": {k: [v] for k, v in reply.headers.items()},
            "body": {"string": reply.body.decode()},
        },
    }


async def author(scenario: Scenario) -> int:
    replies = scenario.replies()
    with StandIn() as provider:
        provider.push(*replies)
        settings = Settings(
            cache_dir="off",
            openai_base_url=provider.base_url,
            openai_api_key="sk-authoring-not-a-real-key",
            llm_timeout=30,
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            response = await client.post("/assess", json=scenario.body)
        received = list(provider.received)
    assert len(received) == len(replies), f"{scenario.name}: {len(received)} calls for {len(replies)} replies"
    cassette = {
        "version": 1,
        "interactions": [interaction(r, reply) for r, reply in zip(received, replies, strict=True)],
    }
    scenario.cassette.parent.mkdir(exist_ok=True)
    scenario.cassette.write_text(serialize(cassette), encoding="utf-8")
    return response.status_code


def main(names: list[str]) -> None:
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        status = asyncio.run(author(scenario))
        print(f"{scenario.cassette.name}: /assess answered {status}")


if __name__ == "__main__":
    main(sys.argv[1:])
