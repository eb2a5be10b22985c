"""No request produces a 500, whatever its body.

Bodies are decoded straight into the request type, so any decode failure (malformed JSON,
nesting, wrong types) is a 400 `invalid_request`; the general property is checked over
generated JSON documents and byte strings (hypothesis) on `/assess` and `/assess/`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.api.test_observability import samples, value
from tests.conftest import problem

Client = AsyncTestClient[Litestar]
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    # No provider on purpose: a malformed request must be a 400 on a pod without one too.
    async with AsyncTestClient(app=create_app(Settings(cache_dir="off"))) as client:
        yield client


@pytest.mark.parametrize("path", ["/assess", "/assess/"])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 4000 + b"]" * 4000,  # 8 KB of nesting: the decoder's recursion limit, once a 500
        b'{"agent": "jp-01", "context": ' + b"[" * 4000 + b"]" * 4000 + b"}",
        b'{"agent": "jp-01", "context": "x", "extra": ' + b"{" * 3000 + b"}" * 3000 + b"}",
        b"[" + b"{}," * 100_000 + b"{}]",  # 300 KB of empty objects: refused at the first one
        b"",
        b"null",
        b'{"agent": "jp-01"',
        b'{"agent": "jp-01", "context": "caf\xe9"}',
        b'\xff\xfe{"agent": "jp-01"}',
    ],
    ids=["nested", "nested-field", "nested-unknown", "many-objects", "empty", "null", "cut", "latin-1", "bom"],
)
async def test_every_undecodable_body_is_a_400(client: Client, path: str, body: bytes) -> None:
    problem(await client.post(path, content=body, headers=JSON_HEADERS), 400, "invalid_request")


async def test_a_missing_field_is_the_callers_400_even_without_a_provider(client: Client) -> None:
    body = problem(await client.post("/assess", json={"agent": "jp-01"}), 400, "invalid_request")
    assert body["errors"][0]["message"] == "Object missing required field `context`"
    body = problem(await client.post("/assess", json={"agent": 7, "context": "x"}), 400, "invalid_request")
    assert body["errors"][0]["key"] == "agent"
    problem(await client.post("/assess", json={"agent": "jp-01", "context": "  "}), 422, "invalid_request")
    problem(await client.post("/assess", json={"agent": "zz-99", "context": "x"}), 404, "unknown_agent")
    problem(await client.post("/assess", json={"agent": "jp-01", "context": "x"}), 503, "provider_not_configured")


def test_the_default_body_limit_fits_the_largest_valid_request() -> None:
    settings = Settings()
    longest = "\U0001f1ef" * settings.max_context_chars  # each character escaped as a surrogate pair by json.dumps
    body = json.dumps(
        {
            "agent": "\U0001f1ef" * 100,
            "version": "\U0001f1ef" * 100,
            "context": longest,
            "question": "\U0001f1ef" * 2000,
            "source": "\U0001f1ef" * 200,
            "as_of": "2025-10-28",
        }
    ).encode()
    assert len(body) < settings.body_limit <= 2 * len(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=40,
)
fields = st.fixed_dictionaries({}, optional={"agent": json_values, "context": json_values, "question": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values.map(json.dumps), fields.map(json.dumps), st.binary(max_size=200).map(repr)))
async def test_no_body_is_ever_a_500(client: Client, body: str) -> None:
    for path in ("/assess", "/assess/"):
        response = await client.post(path, content=body.encode(), headers=JSON_HEADERS)
        assert response.status_code < 500 or response.json()["code"] == "provider_not_configured", response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_requests_for_unknown_routes_are_counted(client: Client) -> None:
    before = value(samples((await client.get("/metrics")).text), "attache_http_unrouted_requests_total")
    problem(await client.get("/no/such/route"), 404, "not_found")
    problem(await client.delete("/agents"), 405, "method_not_allowed")
    after = samples((await client.get("/metrics")).text)
    assert value(after, "attache_http_unrouted_requests_total", status_code="404") >= 1
    assert value(after, "attache_http_unrouted_requests_total") == before + 2
