"""Every operation through the Python client a caller generates from the OpenAPI document.

Run by tests/processes/test_contract.py with the generator's own environment (where the generated
`attache_client` package is installed), against a real `attache serve`:

    python tests/processes/contract_client.py BASE_URL KEY LIMITED_KEY

Each call checks the status and that the body parsed into the documented type: the envelope
and the other models for successes, `Problem` (with its `code`) for each documented error.
The stand-in provider behind the server answers by the news text (see test_contract.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from attache_client import AuthenticatedClient, Client
from attache_client.api.agents import get_agent, get_version, list_agents
from attache_client.api.assess import assess
from attache_client.api.assessments import get_assessment, list_assessments
from attache_client.api.health import live, ready
from attache_client.api.schemas import get_schema
from attache_client.models import (
    AgentDetail,
    AgentList,
    AssessmentEnvelope,
    AssessmentPage,
    AssessRequest,
    Liveness,
    Pending,
    Problem,
    Readiness,
    VersionDetail,
)

CHECKED: list[str] = []


def expect(name: str, response: Any, status: int, kind: type[Any], code: str | None = None) -> Any:
    assert response.status_code == status, f"{name}: {response.status_code} {response.content[:300]!r}"
    assert isinstance(response.parsed, kind), f"{name}: parsed as {type(response.parsed).__name__}, not {kind.__name__}"
    parsed: Any = response.parsed
    if code is not None:
        assert parsed.code == code, f"{name}: code {response.parsed.code}"
    assert response.headers.get("x-request-id"), f"{name}: no X-Request-ID"
    CHECKED.append(f"{name} {status}")
    return response.parsed


def request(context: str, agent: str = "jp-01") -> AssessRequest:
    return AssessRequest(agent=agent, context=context)


def main(base: str, key: str, limited_key: str) -> None:
    client = AuthenticatedClient(base_url=base, token=key, timeout=60)
    anonymous = Client(base_url=base, timeout=60)

    expect("live", live.sync_detailed(client=anonymous), 200, Liveness)
    expect("ready", ready.sync_detailed(client=anonymous), 200, Readiness)
    roster = expect("list_agents", list_agents.sync_detailed(client=client), 200, AgentList)
    assert len(roster.agents) == 8  # seven desks and the judge
    expect("list_agents", list_agents.sync_detailed(client=anonymous), 401, Problem, "unauthorized")
    expect("get_agent", get_agent.sync_detailed("jp-01", client=client), 200, AgentDetail)
    expect("get_agent", get_agent.sync_detailed("zz-99", client=client), 404, Problem, "unknown_agent")
    version = expect("get_version", get_version.sync_detailed("jp-01", "stable", client=client), 200, VersionDetail)
    unchanged = get_version.sync_detailed("jp-01", "1.0.0", client=client, if_none_match=f'"{version.sha256}"')
    assert unchanged.status_code == 304, unchanged.status_code
    CHECKED.append("get_version 304")
    expect("get_version", get_version.sync_detailed("jp-01", "9.9.9", client=client), 404, Problem, "unknown_version")
    expect("get_schema", get_schema.sync_detailed("assessment", "v1", client=anonymous), 200, object)
    expect("get_schema", get_schema.sync_detailed("nothing", "v1", client=anonymous), 404, Problem, "unknown_schema")

    def ask(context: str, agent: str = "jp-01", **headers: str) -> Any:
        return assess.sync_detailed(client=client, body=request(context, agent), **headers)

    answer = expect("assess", ask("A framework was signed."), 200, AssessmentEnvelope)
    assert answer.prompt.version == "1.0.0"
    expect("assess", ask("x", agent="zz-99"), 404, Problem, "unknown_agent")
    expect("assess", ask("   "), 422, Problem, "invalid_request")
    expect("assess", ask("x" * 400_000), 413, Problem, "payload_too_large")
    expect("assess", ask("provider-fails"), 502, Problem, "upstream_unavailable")
    expect("assess", ask("model-refuses"), 422, Problem, "model_refused")
    expect("assess", ask("provider-hangs"), 504, Problem, "upstream_timeout")
    expect("assess", ask("rate-limited"), 503, Problem, "upstream_rate_limited")
    replay = assess.sync_detailed(client=client, body=request("A framework was signed."), idempotency_key="contract-1")
    expect("assess", replay, 200, AssessmentEnvelope)
    other = assess.sync_detailed(client=client, body=request("Another framework."), idempotency_key="contract-1")
    expect("assess", other, 422, Problem, "idempotency_key_reused")
    too_long = assess.sync_detailed(client=client, body=request("x"), idempotency_key="k" * 300)
    expect("assess", too_long, 400, Problem, "invalid_request")
    pending = expect("assess", ask("slow-answer", prefer="respond-async"), 202, Pending)
    expect("get_assessment", get_assessment.sync_detailed(pending.id, client=client), 202, Pending)
    _in_progress(client)
    deadline = time.monotonic() + 30
    while (polled := get_assessment.sync_detailed(pending.id, client=client)).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    expect("get_assessment", polled, 200, AssessmentEnvelope)
    expect("get_assessment", get_assessment.sync_detailed("0" * 32, client=client), 404, Problem, "unknown_assessment")
    page = expect("list_assessments", list_assessments.sync_detailed(client=client, limit=2), 200, AssessmentPage)
    assert len(page.assessments) == 2
    assert page.next_
    expect("list_assessments", list_assessments.sync_detailed(client=client, cursor=page.next_), 200, AssessmentPage)
    expect(
        "list_assessments",
        list_assessments.sync_detailed(client=client, cursor="nope"),
        400,
        Problem,
        "invalid_request",
    )

    limited = AuthenticatedClient(base_url=base, token=limited_key, timeout=60)
    _spend(lambda: list_agents.sync_detailed(client=limited))
    expect("list_agents", list_agents.sync_detailed(client=limited), 429, Problem, "rate_limited")
    print("\n".join(CHECKED))


def _in_progress(client: Any) -> None:
    """The same key again while the first request (3 s at the provider) still runs: 409."""
    import threading

    first: list[Any] = []
    body = request("slow-answer", agent="kr-01")
    thread = threading.Thread(
        target=lambda: first.append(assess.sync_detailed(client=client, body=body, idempotency_key="contract-3"))
    )
    thread.start()
    time.sleep(1.0)
    expect(
        "assess",
        assess.sync_detailed(client=client, body=body, idempotency_key="contract-3"),
        409,
        Problem,
        "request_in_progress",
    )
    thread.join()
    expect("assess", first[0], 200, AssessmentEnvelope)


def _spend(call: Callable[[], Any]) -> None:
    while call().status_code != 429:
        pass


if __name__ == "__main__":
    main(*sys.argv[1:4])
