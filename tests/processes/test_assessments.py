"""Every assessment kept, and what callers build on it: results by id, lists, idempotent
retries, async work and the response cache; on SQLite and on a real PostgreSQL server.

The provider is the stand-in on 127.0.0.1; the app, its store and the HTTP path are real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.api.test_observability import samples, value
from tests.conftest import problem
from tools.news import CN01_REQUEST, JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

Client = AsyncTestClient[Litestar]
VALID = assessment("jp-01-us-japan-critical-minerals")
KEYS = {"alice": "ck-alice-0f1e2d3c4b5a69788796a5b4c3d2e1f0", "bob": "ck-bob-00112233445566778899aabbccddeeff"}
ADMIN = "ck-admin-ffeeddccbbaa99887766554433221100"


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN if who == 'admin' else KEYS[who]}"}


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn(default=Reply.completion(VALID)) as standin:
        yield standin


def settings_for(provider: StandIn, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cache_dir": "off",
        "openai_base_url": provider.base_url,
        "openai_api_key": "sk-test-store",
        "database_url": database_url,
        "api_keys": ",".join(KEYS.values()),
        "admin_keys": ADMIN,
        "llm_timeout": 10,
        "caller_secret": "a-shared-caller-secret-for-every-replica",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def client(provider: StandIn, database_url: str) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings_for(provider, database_url))) as client:
        yield client


async def test_an_answer_is_kept_and_read_back_byte_for_byte(client: Client) -> None:
    response = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))
    assert response.status_code == 200
    envelope = response.json()
    kept = await client.get(f"/assessments/{envelope['id']}", headers=auth("alice"))
    assert kept.status_code == 200
    assert kept.content == response.content, "the same bytes as the original answer"
    assert kept.headers["attache-prompt-sha256"] == envelope["prompt"]["sha256"]
    markdown = await client.get(f"/assessments/{envelope['id']}", headers={**auth("alice"), "Accept": "text/markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# 🇯🇵 JP-01 Assessment:")


async def test_a_problem_is_kept_with_its_status_and_body(client: Client, provider: StandIn) -> None:
    provider.push(Reply.completion(None, refusal="I can't help with that.", finish_reason="stop"))
    response = await client.post("/assess", json={**JP01_SAMPLE_REQUEST, "context": "refuse me"}, headers=auth("alice"))
    body = problem(response, 422, "model_refused")
    page = (await client.get("/assessments?outcome=model_refused", headers=auth("alice"))).json()
    [record] = page["assessments"]
    assert record["problem"] == body
    kept = await client.get(f"/assessments/{record['id']}", headers=auth("alice"))
    assert kept.status_code == 422
    assert kept.content == response.content


async def test_callers_see_only_their_own_and_admins_see_all(client: Client) -> None:
    mine = (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).json()["id"]
    problem(await client.get(f"/assessments/{mine}", headers=auth("bob")), 404, "unknown_assessment")
    assert (await client.get(f"/assessments/{mine}", headers=auth("admin"))).status_code == 200
    assert (await client.get("/assessments", headers=auth("bob"))).json()["assessments"] == []
    assert [a["id"] for a in (await client.get("/assessments", headers=auth("admin"))).json()["assessments"]] == [mine]
    problem(await client.get("/assessments/no-such-id", headers=auth("admin")), 404, "unknown_assessment")
    problem(await client.get("/assessments"), 401, "unauthorized")


async def test_lists_page_newest_first_and_carry_input_only_on_request(client: Client) -> None:
    sent = []
    for number in range(5):
        body = {**JP01_SAMPLE_REQUEST, "context": f"Headline number {number}."}
        sent.append((await client.post("/assess", json=body, headers=auth("alice"))).json()["id"])
    cn = (await client.post("/assess", json=CN01_REQUEST, headers=auth("alice"))).json()["id"]
    seen, cursor = [], None
    while True:
        query = "/assessments?agent=jp-01&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=auth("alice"))).json()
        seen += [a["id"] for a in page["assessments"]]
        assert all("input" not in a for a in page["assessments"])
        if not (cursor := page["next"]):
            break
    assert seen == list(reversed(sent))
    with_input = (await client.get("/assessments?include=input&limit=1", headers=auth("alice"))).json()
    assert with_input["assessments"][0]["id"] == cn
    assert with_input["assessments"][0]["input"]["context"] == CN01_REQUEST["context"]
    assert with_input["assessments"][0]["envelope"]["agent"]["id"] == "cn-01"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert (await client.get(f"/assessments?since={future}", headers=auth("alice"))).json()["assessments"] == []


@pytest.mark.parametrize(
    "query",
    ["cursor=not-a-cursor", "cursor=W10", "limit=0", "limit=101", "include=everything", "since=yesterday"],
)
async def test_bad_list_queries_are_400(client: Client, query: str) -> None:
    problem(await client.get(f"/assessments?{query}", headers=auth("alice")), 400, "invalid_request")


async def test_without_store_text_only_the_hash_is_kept(provider: StandIn, database_url: str) -> None:
    app = create_app(settings_for(provider, database_url, store_text=False))
    async with AsyncTestClient(app=app) as client:
        await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))
        await client.post(
            "/assess",
            json={**JP01_SAMPLE_REQUEST, "context": "x"},
            headers={**auth("alice"), "Cache-Control": "no-store"},
        )
        records = (await client.get("/assessments?include=input", headers=auth("alice"))).json()["assessments"]
    for record in records:
        assert record["input"]["context"] is None
        assert len(record["input"]["sha256"]) == 64


async def test_an_idempotent_retry_is_answered_once(client: Client, provider: StandIn) -> None:
    headers = {**auth("alice"), "Idempotency-Key": "order-7f3e", "Cache-Control": "no-cache"}
    first = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers)
    again = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content, "same id, same body"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(provider.received) == 1, "no second model call"
    other = await client.post("/assess", json={**JP01_SAMPLE_REQUEST, "context": "another"}, headers=headers)
    problem(other, 422, "idempotency_key_reused")
    bob = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers={**headers, **auth("bob")})
    assert bob.status_code == 200
    assert bob.json()["id"] != first.json()["id"], "keys are per caller"


@pytest.mark.parametrize("key", ["", "k" * 256, "bad\tkey", "nul\x7fkey"])
async def test_a_malformed_idempotency_key_is_400(client: Client, key: str) -> None:
    response = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers={**auth("alice"), "Idempotency-Key": key})
    problem(response, 400, "invalid_request")


async def test_a_kept_failure_is_replayed_too(client: Client, provider: StandIn) -> None:
    provider.push(Reply.error(400, "bad", "invalid_request_error", "model_not_found"))
    headers = {**auth("alice"), "Idempotency-Key": "failing-1"}
    first = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers)
    again = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers)
    assert first.status_code == again.status_code == 502
    assert again.content == first.content
    assert len(provider.received) == 1


async def test_the_response_cache_answers_identical_requests(client: Client, provider: StandIn) -> None:
    before = samples((await client.get("/metrics")).text)
    first = (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).json()
    hit = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("bob"))
    assert len(provider.received) == 1, "answered from the store"
    body = hit.json()
    assert body["cached_from"] == first["id"]
    assert body["id"] != first["id"]
    assert body["usage"] == {"input_tokens": 0, "output_tokens": 0, "attempts": 0}
    assert body["assessment"] == first["assessment"]
    assert int(hit.headers["age"]) >= 0
    assert (await client.get(f"/assessments/{body['id']}", headers=auth("bob"))).content == hit.content
    fresh = await client.post(
        "/assess", json=JP01_SAMPLE_REQUEST, headers={**auth("alice"), "Cache-Control": "no-cache"}
    )
    assert "cached_from" not in fresh.json()
    assert len(provider.received) == 2, "no-cache forces a model call"
    other_version = await client.post(
        "/assess", json={**JP01_SAMPLE_REQUEST, "agent": "jp-01@1.1.0"}, headers=auth("alice")
    )
    assert "cached_from" not in other_version.json(), "the key never crosses versions"
    after = samples((await client.get("/metrics")).text)
    for result, count in (("hit", 1), ("miss", 2), ("bypass", 1)):
        counted = value(after, "attache_response_cache_total", result=result)
        assert counted - value(before, "attache_response_cache_total", result=result) == count, result


async def test_no_store_answers_are_never_served_from_the_cache(client: Client, provider: StandIn) -> None:
    no_store = {**auth("alice"), "Cache-Control": "no-store"}
    await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=no_store)
    again = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))
    assert "cached_from" not in again.json()
    assert len(provider.received) == 2


async def test_only_successes_are_cached_and_ttl_zero_turns_it_off(provider: StandIn, database_url: str) -> None:
    provider.push(Reply.error(500, "down", "server_error"), Reply.error(500, "down", "server_error"))
    provider.push(Reply.error(500, "down", "server_error"))
    async with AsyncTestClient(app=create_app(settings_for(provider, database_url, llm_transport_retries=0))) as client:
        assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).status_code == 502
        assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).status_code == 502
    assert len(provider.received) == 2, "a failure is never a cache entry"
    provider.received.clear()
    provider.script.clear()
    async with AsyncTestClient(app=create_app(settings_for(provider, database_url, response_cache_ttl=0))) as client:
        for _ in range(2):
            assert (await client.post("/assess", json=CN01_REQUEST, headers=auth("alice"))).status_code == 200
    assert len(provider.received) == 2


async def test_async_work_answers_202_and_is_polled(client: Client, provider: StandIn) -> None:
    provider.default = Reply.completion(VALID, delay=0.5)
    headers = {**auth("alice"), "Prefer": "respond-async"}
    accepted = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers)
    assert accepted.status_code == 202
    assert accepted.headers["preference-applied"] == "respond-async"
    location = accepted.headers["location"]
    assert location == f"/assessments/{accepted.json()['id']}"
    pending = await client.get(location, headers=auth("alice"))
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending"
    assert pending.headers["retry-after"] == "1"
    for _ in range(100):
        done = await client.get(location, headers=auth("alice"))
        if done.status_code != 202:
            break
        await asyncio.sleep(0.05)
    assert done.status_code == 200
    assert done.json()["id"] == accepted.json()["id"]
    problem(await client.get(location, headers=auth("bob")), 404, "unknown_assessment")


async def test_a_store_promise_without_a_store_is_503(provider: StandIn, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the database's folder should be")
    settings = settings_for(provider, f"sqlite:///{blocked / 'attache.db'}")
    async with AsyncTestClient(app=create_app(settings)) as client:
        plain = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))
        assert plain.status_code == 200, "answered, though it cannot be kept"
        for header in ({"Idempotency-Key": "k-1"}, {"Prefer": "respond-async"}):
            response = await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers={**auth("alice"), **header})
            problem(response, 503, "store_unavailable")
        problem(await client.get("/assessments", headers=auth("alice")), 503, "store_unavailable")
        ready = (await client.get("/health/ready")).json()
        assert ready["store"]["available"] is False
        metrics = samples((await client.get("/metrics")).text)
    assert value(metrics, "attache_store_errors_total", operation="record") >= 1, "the unkept answer is counted"


async def test_a_database_that_comes_back_is_used_again_without_a_restart(provider: StandIn) -> None:
    from tools.servers import PostgresServer

    server = PostgresServer()  # its own server: this test stops it
    server.start()
    try:
        app = create_app(settings_for(provider, server.database()))
        async with AsyncTestClient(app=app) as client:
            assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).status_code == 200
            server.stop()
            down = await client.post("/assess", json=CN01_REQUEST, headers=auth("alice"))
            assert down.status_code == 200, "a plain request is answered while the database is down"
            promise = {**auth("alice"), "Idempotency-Key": "while-down"}
            problem(await client.post("/assess", json=CN01_REQUEST, headers=promise), 503, "store_unavailable")
            assert (await client.get("/health/ready")).json()["store"]["available"] is False
            server.start()
            assert (await client.get("/health/ready")).json()["store"]["available"] is True, "noticed by the probe"
            again = await client.post("/assess", json=CN01_REQUEST, headers=promise)
            assert again.status_code == 200
            kept = await client.get(f"/assessments/{again.json()['id']}", headers=auth("alice"))
            assert kept.content == again.content
            ids = [a["id"] for a in (await client.get("/assessments", headers=auth("alice"))).json()["assessments"]]
        assert down.json()["id"] not in ids, "the answer given while down was not kept (and was counted)"
        assert len(ids) == 2
    finally:
        server.close()


async def test_off_keeps_nothing_and_says_so(provider: StandIn) -> None:
    async with AsyncTestClient(app=create_app(settings_for(provider, "off"))) as client:
        before = value(samples((await client.get("/metrics")).text), "attache_store_errors_total")
        assert (await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=auth("alice"))).status_code == 200
        headers = {**auth("alice"), "Prefer": "respond-async"}
        problem(await client.post("/assess", json=JP01_SAMPLE_REQUEST, headers=headers), 503, "store_unavailable")
        store = (await client.get("/health/ready")).json()["store"]
        metrics = samples((await client.get("/metrics")).text)
    assert store["backend"] == "off"
    assert value(metrics, "attache_store_errors_total") == before, "keeping nothing on purpose is not an error"
