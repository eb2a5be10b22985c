"""Admission control in a real `attache serve`: assessments above the in-flight bound are refused at once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from tests.api.test_caller_limits import VALID
from tests.conftest import problem, serving
from tools.news import JP01_SAMPLE_REQUEST
from tools.standin import Reply, StandIn


def test_assessments_above_the_in_flight_bound_are_refused_at_once(tmp_path: Path) -> None:
    # Litestar's test client runs requests one at a time, so this goes through a real server.
    with StandIn(default=Reply.completion(VALID, delay=1.0)) as provider:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": provider.base_url,
            "OPENAI_API_KEY": "sk-test",
            "ATTACHE_MAX_INFLIGHT": "2",
            "ATTACHE_CACHE_DIR": "off",
        }
        with serving(env, tmp_path / "serve.log") as (base, _):

            async def burst() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    # Both spellings of the route: Litestar serves `/assess/` too, so it is shed too.
                    paths = ["/assess", "/assess/"] * 3
                    return list(await asyncio.gather(*(client.post(p, json=JP01_SAMPLE_REQUEST) for p in paths)))

            responses = asyncio.run(burst())
    assert sorted(r.status_code for r in responses) == [200, 200, 503, 503, 503, 503]
    admitted = [r for r in responses if r.status_code == 200]
    shed = [r for r in responses if r.status_code == 503]
    for refused in shed:
        problem(refused, 503, "overloaded")
        assert refused.headers["retry-after"] == "1"
    # Refused without waiting: every refusal is back before any admitted request (1 s at the provider).
    assert max(r.elapsed for r in shed) < min(r.elapsed for r in admitted)
    assert len(provider.received) == 2
