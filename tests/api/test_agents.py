"""The HTTP API through Litestar's test client, on a copy of the real registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.export import schema_path
from service.app import create_app
from service.registry import RegistryInvalid
from service.settings import Settings

Client = AsyncTestClient[Litestar]


def assert_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert str(body["type"]).endswith(code)
    return body


async def test_agents_lists_every_persona_with_its_metadata(client: Client) -> None:
    response = await client.get("/agents")
    assert response.status_code == 200
    agents = {a["id"]: a for a in response.json()["agents"]}
    assert len(agents) >= 6
    jp = agents["jp-01"]
    assert jp == {
        "id": "jp-01",
        "callsign": "JP-01",
        "name": "Japan Agent",
        "organization": "Three Corporate",
        "country": "JP",
        "country_name": "Japan",
        "language": "ja",
        "description": jp["description"],
        "labels": {"stable": "1.0.0", "canary": "1.1.0"},
        "rollouts": {},
        "versions": ["1.0.0", "1.1.0"],
        "deprecations": [],
        "role": "desk",
    }
    assert "economic-security" in jp["description"]
    assert agents["qa-01"]["role"] == "judge", "the review desk is listed, as a judge"
    assert all(a["organization"] == "Three Corporate" for a in agents.values())


async def test_one_agent_carries_its_versions_metadata(client: Client) -> None:
    response = await client.get("/agents/jp-01")
    assert response.status_code == 200
    details = {v["version"]: v for v in response.json()["version_details"]}
    assert set(details) == {"1.0.0", "1.1.0"}
    assert details["1.1.0"]["output_schema"] == "assessment v1"
    assert details["1.0.0"]["model"] == "gpt-4o-2024-08-06"


async def test_a_version_is_served_with_its_hash_template_and_immutable_caching(
    client: Client, registry_dir: Path
) -> None:
    response = await client.get("/agents/jp-01/versions/1.0.0")
    assert response.status_code == 200
    body = response.json()
    file_hash = hashlib.sha256((registry_dir / "jp-01" / "1.0.0.yaml").read_bytes()).hexdigest()
    assert body["sha256"] == file_hash
    assert body["label"] is None
    assert body["output_schema"] == {"name": "assessment", "version": 1, "url": "/schemas/assessment/v1"}
    assert body["model"] == {"name": "gpt-4o-2024-08-06", "temperature": 0.4, "max_output_tokens": 4096}
    assert {v["name"]: v["required"] for v in body["variables"]} == {
        "context": True,
        "question": False,
        "source": False,
        "as_of": False,
    }
    assert body["templates"]["system"].startswith("You are {{ persona.callsign }}")
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["etag"] == f'"{file_hash}"'

    again = await client.get("/agents/jp-01/versions/1.0.0", headers={"If-None-Match": f'"{file_hash}"'})
    assert again.status_code == 304
    assert again.content == b""


async def test_a_label_resolves_but_is_cached_briefly(client: Client) -> None:
    response = await client.get("/agents/jp-01/versions/canary")
    assert response.status_code == 200
    assert response.json()["version"] == "1.1.0"
    assert response.json()["label"] == "canary"
    assert "immutable" not in response.headers["cache-control"]


async def test_unknown_agent_and_version_are_404_problems(client: Client) -> None:
    body = assert_problem(await client.get("/agents/zz-99"), 404, "unknown_agent")
    assert "jp-01" in str(body["detail"]), "the error lists the agents that exist"
    assert_problem(await client.get("/agents/zz-99/versions/1.0.0"), 404, "unknown_agent")
    assert_problem(await client.get("/agents/jp-01/versions/7.0.0"), 404, "unknown_version")


async def test_router_errors_are_problem_details_too(client: Client) -> None:
    assert_problem(await client.get("/no/such/route"), 404, "not_found")
    assert_problem(await client.delete("/agents"), 405, "method_not_allowed")


async def test_health_probes(client: Client) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["registry"]["personas"] >= 6


async def test_the_output_schema_is_served_as_published(client: Client) -> None:
    response = await client.get("/schemas/assessment/v1")
    assert response.status_code == 200
    assert response.json() == json.loads(schema_path("assessment", 1).read_text())
    assert_problem(await client.get("/schemas/assessment/v9"), 404, "unknown_schema")


async def test_openapi_document_and_docs_page_use_no_cdn(client: Client) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    assert {"/agents", "/agents/{agent_id}", "/agents/{agent_id}/versions/{ref}", "/health/ready"} <= set(spec["paths"])
    error = spec["paths"]["/agents/{agent_id}"]["get"]["responses"]["404"]
    assert "application/problem+json" in error["content"]
    page = (await client.get("/docs")).text
    assert "/docs-assets/swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert "https://" not in page.split("spec:")[0]
    asset = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 500_000


async def test_start_up_refuses_a_broken_registry(registry_dir: Path, tmp_path: Path) -> None:
    persona = registry_dir / "jp-01" / "persona.yaml"
    persona.write_text(persona.read_text().replace("stable: 1.0.0", "stable: 0.9.0"))
    app = create_app(Settings(registry_dir=str(registry_dir), cache_dir="off"))
    with pytest.raises(ExceptionGroup) as caught:
        async with AsyncTestClient(app=app):
            pass
    assert caught.group_contains(RegistryInvalid, match=r"label 'stable' points at version 0\.9\.0")


async def test_deprecations_are_listed_with_sunset_and_successor(registry_dir: Path, tmp_path: Path) -> None:
    persona = registry_dir / "jp-01" / "persona.yaml"
    persona.write_text(
        persona.read_text().replace(
            "deprecations: []",
            "deprecations:\n  - version: 1.0.0\n    since: 2026-11-01\n    sunset: 2027-03-31\n    successor: 1.1.0\n",
        )
    )
    app = create_app(Settings(registry_dir=str(registry_dir), cache_dir="off"))
    async with AsyncTestClient(app=app) as client:
        expected = {
            "version": "1.0.0",
            "since": "2026-11-01",
            "sunset": "2027-03-31",
            "successor": "1.1.0",
            "note": None,
        }
        agent = (await client.get("/agents/jp-01")).json()
        assert agent["deprecations"] == [expected]
        assert {v["version"]: v["deprecated"] for v in agent["version_details"]} == {
            "1.0.0": True,
            "1.1.0": False,
        }
        assert (await client.get("/agents/jp-01/versions/1.0.0")).json()["deprecation"] == expected
        assert (await client.get("/agents/jp-01/versions/1.1.0")).json()["deprecation"] is None


async def test_a_judge_persona_answers_no_assess_request(client: Client) -> None:
    response = await client.post("/assess", json={"agent": "qa-01", "context": "A framework was signed."})
    body = assert_problem(response, 422, "invalid_request")
    assert "judge persona" in str(body["detail"])
    assert "attache eval --judge" in str(body["detail"])
