"""The fault matrix: every provider misbehaviour has a documented, bounded, typed outcome.

Settings: deadline 2 s, 2 re-asks, 2 transport retries. For each behaviour the stand-in
provider acts out, the service must answer with the documented status and problem code
(and `Retry-After` where it applies), make no more provider calls than the policy allows,
answer within the deadline plus a margin, never answer 500, and stay healthy after. The
table in docs/faults.md is checked against FAULTS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import free_port
from tests.unit.provider.test_faults import MALFORMED
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

DEADLINE = 2.0
MARGIN = 1.0
KEY = "sk-test-fault-matrix-4a1b2c3d"
CLIENT_KEY = "ck-fault-matrix-client-9e8d7c6b5a4f3e2d1c"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
VALID = assessment("jp-01-us-japan-critical-minerals")
INVALID = {**VALID, "outlook": VALID["outlook"][:1]}
DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "faults.md"


def error(status: int, **headers: str) -> Reply:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return Reply.error(status, f"stand-in {status} (key {KEY})", kind, headers=headers)


@dataclass(frozen=True)
class Fault:
    name: str
    replies: Callable[[], list[Reply]]
    status: int
    code: str | None
    calls: int
    retry_after: bool = False
    nothing_listening: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


FAULTS = [
    Fault("normal answer", lambda: [Reply.completion(VALID)], 200, None, 1),
    Fault("latency (0.5 s)", lambda: [Reply.completion(VALID, delay=0.5)], 200, None, 1),
    Fault("hang", lambda: [Reply.completion(VALID, delay=60)], 504, "upstream_timeout", 1),
    Fault("slow drip (1 byte / 20 ms)", lambda: [Reply.completion(VALID, drip=0.02)], 504, "upstream_timeout", 1),
    Fault("429 then success", lambda: [error(429, **{"retry-after-ms": "50"}), Reply.completion(VALID)], 200, None, 2),
    Fault(
        "429 every time", lambda: [error(429, **{"retry-after-ms": "50"})] * 3, 503, "upstream_rate_limited", 3, True
    ),
    Fault(
        "429, Retry-After past the deadline",
        lambda: [error(429, **{"retry-after": "30"})],
        503,
        "upstream_rate_limited",
        1,
        True,
    ),
    Fault(
        "429, malformed Retry-After (soon, inf, 1e400)",
        lambda: [error(429, **{"retry-after": value}) for value in ("soon", "inf", "1e400")],
        503,
        "upstream_rate_limited",
        3,
        True,
    ),
    Fault(
        "429, Retry-After huge (1e12)",
        lambda: [error(429, **{"retry-after": "1e12"})],
        503,
        "upstream_rate_limited",
        1,
        True,
    ),
    Fault(
        "503, Retry-After negative or nan",
        lambda: [error(503, **{"retry-after": "-5"}), error(503, **{"retry-after-ms": "nan"}), error(503)],
        502,
        "upstream_unavailable",
        3,
    ),
    Fault("500 every time", lambda: [error(500)] * 3, 502, "upstream_unavailable", 3),
    Fault("503 with Retry-After", lambda: [error(503, **{"retry-after": "60"})], 503, "upstream_unavailable", 1, True),
    Fault("500 then success", lambda: [error(500), Reply.completion(VALID)], 200, None, 2),
    Fault(
        "malformed JSON body",
        lambda: [Reply(body=b'{"choices": [', headers={"content-type": "application/json"})],
        502,
        "upstream_unavailable",
        1,
    ),
    Fault(
        "non-JSON body (HTML, 200)",
        lambda: [Reply(body=b"<html>gateway</html>", headers={"content-type": "text/html"})],
        502,
        "upstream_unavailable",
        1,
    ),
    Fault("schema-invalid every time", lambda: [Reply.completion(INVALID)] * 3, 502, "invalid_model_output", 3),
    Fault("invalid, then valid", lambda: [Reply.completion(INVALID), Reply.completion(VALID)], 200, None, 2),
    Fault(
        "not JSON inside the tool call",
        lambda: [Reply.completion("{'title': 'oops'")] * 3,
        502,
        "invalid_model_output",
        3,
    ),
    Fault(
        "finish_reason=length",
        lambda: [Reply.completion('{"title": "cut', finish_reason="length")],
        502,
        "output_truncated",
        1,
    ),
    Fault(
        "output tokens reached max_tokens, finish_reason=tool_calls",
        lambda: [Reply.completion(VALID, finish_reason="tool_calls", usage=(1850, 4096))],
        502,
        "output_truncated",
        1,
    ),
    Fault(
        "re-ask past the context window",
        lambda: [Reply.completion(INVALID, usage=(1850, 1420))],
        502,
        "invalid_model_output",
        1,
        settings={"llm_context_tokens": 6000},
    ),
    Fault(
        "400 context_length_exceeded",
        lambda: [
            Reply.error(
                400,
                "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
                "(4904 in the messages, 4096 in the completion).",
                "invalid_request_error",
                "context_length_exceeded",
            )
        ],
        502,
        "context_length_exceeded",
        1,
    ),
    Fault(
        "500 with a request-validation message",
        lambda: [Reply.error(500, MALFORMED, "internal_server_error")] * 3,
        502,
        "upstream_rejected",
        1,
    ),
    Fault(
        "refusal",
        lambda: [Reply.completion(None, refusal="I can't help with that.", finish_reason="stop")],
        422,
        "model_refused",
        1,
    ),
    Fault(
        "empty choices",
        lambda: [Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []})],
        502,
        "upstream_unavailable",
        1,
    ),
    Fault("connection closed without answer", lambda: [Reply(close=True)] * 3, 502, "upstream_unavailable", 3),
    Fault(
        "401 from the provider",
        lambda: [Reply.error(401, f"Incorrect API key provided: {KEY}", "invalid_request_error", "invalid_api_key")],
        502,
        "upstream_rejected",
        1,
    ),
    Fault("nothing listening", lambda: [], 502, "upstream_unavailable", 3, nothing_listening=True),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_matrix(fault: Fault, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with StandIn() as provider:
        provider.push(*fault.replies())
        base_url = f"http://127.0.0.1:{free_port()}/v1" if fault.nothing_listening else provider.base_url
        settings = Settings(
            cache_dir="off",
            openai_base_url=base_url,
            openai_api_key=KEY,
            api_keys=CLIENT_KEY,
            llm_timeout=DEADLINE,
            llm_reasks=2,
            llm_transport_retries=2,
            response_cache_ttl=0,  # the healthy-after request must reach the provider
            **fault.settings,
        )
        async with AsyncTestClient(app=create_app(settings), timeout=30) as client:
            started = time.monotonic()
            response = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=AUTH)
            elapsed = time.monotonic() - started
            metrics = (await client.get("/metrics")).text
            # Healthy after the fault: the next request gets a normal assessment.
            if not fault.nothing_listening:
                provider.script.clear()
                provider.push(Reply.completion(VALID))
                assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=AUTH)).status_code == 200
            assert (await client.get("/health/ready")).status_code == 200
        calls = len(provider.received) - (0 if fault.nothing_listening else 1)

    assert response.status_code == fault.status, response.text
    assert elapsed < DEADLINE + MARGIN, f"answered after {elapsed:.2f} s"
    if fault.code is None:
        assert response.json()["usage"]["attempts"] == fault.calls
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == fault.code
        assert ("retry-after" in response.headers) == fault.retry_after
        if fault.retry_after:
            assert 1 <= int(response.headers["retry-after"]) <= 3600, "a sane whole number of seconds"
        assert body["attempts"] == fault.calls
    if not fault.nothing_listening:
        assert calls == fault.calls, f"{calls} provider calls"
    # Secret hygiene: neither the provider key nor the client key appears in a body, metric or log line.
    logs = capsys.readouterr().out
    for surface in (response.text, str(response.headers), metrics, logs):
        assert KEY not in surface
        assert CLIENT_KEY not in surface
    requests = [line for line in map(json.loads, logs.splitlines()) if line["event"] == "request"]
    assert requests, "every request is logged"
    assert all(line["caller"].startswith("key-") for line in requests), "the caller is logged by the hash of its key"


def test_the_documented_matrix_matches_the_tested_one() -> None:
    rows = [
        line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| ") and "---" not in line
    ]
    documented = {cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[1:])}
    for fault in FAULTS:
        assert fault.name in documented, f"docs/faults.md has no row for {fault.name!r}"
        status, code, calls, retry_after = documented[fault.name][:4]
        assert status == str(fault.status), fault.name
        assert code == (f"`{fault.code}`" if fault.code else "—"), fault.name
        assert retry_after == ("yes" if fault.retry_after else "—"), fault.name
        assert calls == str(fault.calls), fault.name


@pytest.mark.parametrize(
    ("code", "echoed"),
    [("model_not_found", True), ("x" * 65, False), ("<script>alert(1)</script>", False), ("a b", False)],
)
async def test_a_provider_error_code_is_echoed_only_as_a_short_identifier(code: str, echoed: bool) -> None:
    with StandIn(default=Reply.error(400, "bad request", "invalid_request_error", code)) as provider:
        settings = Settings(cache_dir="off", openai_base_url=provider.base_url, openai_api_key=KEY)
        async with AsyncTestClient(app=create_app(settings)) as client:
            response = await client.post("/assess", json=JP01_SAMPLE_REQUEST)
    assert response.json()["code"] == "upstream_rejected"
    assert (code in response.json()["detail"]) == echoed


async def test_a_provider_cannot_create_metric_series_by_naming_models() -> None:
    replies = [Reply.completion(VALID, model=f"attacker-model-{n}") for n in range(3)]
    replies.append(Reply.completion(VALID, model="<b>not a name</b>"))
    with StandIn() as provider:
        provider.push(*replies)
        settings = Settings(
            cache_dir="off", openai_base_url=provider.base_url, openai_api_key=KEY, response_cache_ttl=0
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            envelopes = [(await client.post("/assess", json=JP01_SAMPLE_REQUEST)).json() for _ in replies]
            metrics = (await client.get("/metrics")).text
    assert "attacker-model" not in metrics
    assert 'gen_ai_response_model="other"' in metrics
    assert [e["model"] for e in envelopes[:3]] == [f"attacker-model-{n}" for n in range(3)], "reported as said"
    assert envelopes[3]["model"] == "gpt-4o-2024-08-06", "a name that is not a name is not echoed"


async def test_the_openapi_document_lists_every_problem_code() -> None:
    async with AsyncTestClient(app=create_app(Settings(cache_dir="off"))) as client:
        spec = (await client.get("/docs/openapi.json")).json()
    described = spec["components"]["schemas"]["Problem"]["properties"]["code"]["description"]
    for fault in FAULTS:
        if fault.code:
            assert fault.code in described, fault.code
    assert "context_length_exceeded" in described
