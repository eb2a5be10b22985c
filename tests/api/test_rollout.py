"""Gradual roll-outs: validated like labels, sticky per caller, visible in the envelope, headers and /agents."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.access.callers import CallerNames
from service.app import create_app
from service.registry import RegistryInvalid, load_registry
from service.registry.reference import AgentReference
from service.registry.rollout import bucket, in_rollout
from service.settings import Settings
from tests.conftest import ATTACHE
from tests.unit.registry.test_load import edit, line_of
from tools.news import US_JAPAN_MINERALS
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

Client = AsyncTestClient[Litestar]
SECRET = "a-caller-secret-shared-by-every-replica-0123"  # noqa: S105 - a test value
PERSONA = "jp-01/persona.yaml"
ROLLOUT_10 = "rollouts:\n  stable: {version: 1.1.0, percent: 10}\n"


def add_rollout(registry_dir: Path, text: str = ROLLOUT_10) -> Path:
    path = registry_dir / PERSONA
    edit(path, "deprecations: []\n", text + "deprecations: []\n")
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(RegistryInvalid) as caught:
        load_registry(root)
    return [str(p) for p in caught.value.problems]


# -- validation ------------------------------------------------------------------------------


def test_a_rollout_in_the_documented_shape_loads(registry_dir: Path) -> None:
    add_rollout(registry_dir)
    rollout = load_registry(registry_dir).personas["jp-01"].spec.rollouts["stable"]
    assert (rollout.version, rollout.percent) == ("1.1.0", 10)


@pytest.mark.parametrize(
    ("rollout", "needle", "message"),
    [
        ("  stable: {version: 1.1.0, percent: 110}\n", "percent: 110", "Expected `float` <= 100"),
        ("  stable: {version: 1.1.0, percent: -5}\n", "percent: -5", "Expected `float` >= 0"),
        ("  stable: {version: 1.7.0, percent: 10}\n", "1.7.0", "targets version 1.7.0, which has no file 1.7.0.yaml"),
        ("  stable: {version: 1.0.0, percent: 10}\n", "version: 1.0.0", "already points at 1.0.0"),
        ("  beta: {version: 1.1.0, percent: 10}\n", "beta:", "roll-out of 'beta', which is not a label"),
        ("  stable: {version: 1.1.0, share: 10}\n", "share", "unknown key `share`"),
    ],
)
def test_a_bad_rollout_names_file_and_line(registry_dir: Path, rollout: str, needle: str, message: str) -> None:
    path = add_rollout(registry_dir, "rollouts:\n" + rollout)
    [problem] = problems_of(registry_dir)
    assert problem.startswith(f"{path}:{line_of(path, needle)}:"), problem
    assert message in problem


def test_a_rollout_to_a_deprecated_version_is_refused(registry_dir: Path) -> None:
    path = registry_dir / PERSONA
    edit(
        path,
        "deprecations: []\n",
        ROLLOUT_10 + "deprecations:\n  - {version: 1.1.0, since: 2026-01-01, sunset: 2026-06-01}\n",
    )
    [problem] = problems_of(registry_dir)
    assert problem.startswith(f"{path}:{line_of(path, 'stable: {version: 1.1.0')}:")
    assert "targets version 1.1.0, which is deprecated" in problem


def test_registry_check_and_start_up_refuse_a_bad_rollout(registry_dir: Path) -> None:
    import subprocess

    path = add_rollout(registry_dir, "rollouts:\n  stable: {version: 1.1.0, percent: 101}\n")
    for args in (["registry", "check", "--registry-dir", str(registry_dir)], ["serve", "--port", "1"]):
        env = {"ATTACHE_REGISTRY_DIR": str(registry_dir), "ATTACHE_CACHE_DIR": "off", "PATH": "/usr/bin:/bin"}
        result = subprocess.run([ATTACHE, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
        assert result.returncode == 1, result
        assert f"{path}:{line_of(path, 'percent: 101')}:" in result.stderr


# -- assignment ------------------------------------------------------------------------------


def test_assignment_is_sticky_close_to_the_share_and_only_grows() -> None:
    callers = [f"key-{hashlib.sha256(str(n).encode()).hexdigest()[:20]}" for n in range(20_000)]
    at = {p: {c for c in callers if in_rollout("jp-01", "stable", "1.1.0", p, c)} for p in (0, 1, 10, 50, 100)}
    assert not at[0]
    assert len(at[100]) == len(callers)
    for percent in (1, 10, 50):
        share = len(at[percent]) / len(callers) * 100
        assert abs(share - percent) < 1.0, f"{percent}%: {share:.2f}% of callers"
    assert at[1] <= at[10] <= at[50], "raising the share keeps everyone already rolled out"
    caller = callers[0]
    assert len({bucket("jp-01", "stable", "1.1.0", caller) for _ in range(5)}) == 1
    # Another persona, label or target version draws its own sample.
    others = [("kr-01", "stable", "1.1.0"), ("jp-01", "canary", "1.1.0"), ("jp-01", "stable", "1.2.0")]
    for persona, label, version in others:
        sample = {c for c in callers if in_rollout(persona, label, version, 10, c)}
        assert len(sample & at[10]) < len(at[10]) * 0.2


def test_resolution_routes_a_label_and_the_default_but_never_an_exact_version(registry_dir: Path) -> None:
    add_rollout(registry_dir, "rollouts:\n  stable: {version: 1.1.0, percent: 100}\n")
    registry = load_registry(registry_dir)
    for agent, version in (("jp-01", None), ("jp-01@stable", None), ("jp-01", "stable")):
        chosen = registry.resolve(AgentReference.parse(agent, version), "key-a")
        assert (chosen.prompt.version, chosen.label) == ("1.1.0", "stable")
        assert chosen.rollout is not None
        assert chosen.rollout.arm == "rollout"
    exact = registry.resolve(AgentReference.parse("jp-01@1.0.0", None), "key-a")
    assert (exact.prompt.version, exact.label, exact.rollout) == ("1.0.0", None, None)
    canary = registry.resolve(AgentReference.parse("jp-01@canary", None), "key-a")
    assert (canary.prompt.version, canary.rollout) == ("1.1.0", None)
    nobody = registry.resolve(AgentReference.parse("jp-01", None), None)
    assert (nobody.prompt.version, nobody.rollout) == ("1.0.0", None), "no caller (the command line): the label"


# -- over HTTP -------------------------------------------------------------------------------


def keys_on_each_arm(percent: float) -> dict[str, str]:
    """Client keys whose callers fall on each arm of jp-01's `stable` roll-out at `percent`."""
    names = CallerNames(SECRET.encode())
    found: dict[str, str] = {}
    for n in range(10_000):
        key = f"client-key-{n:06d}-" + "x" * 24
        arm = "rollout" if in_rollout("jp-01", "stable", "1.1.0", percent, names.of_key(key)) else "label"
        found.setdefault(arm, key)
        if arm == "rollout" and "rollout-2" not in found and found["rollout"] != key:
            found["rollout-2"] = key
        if len(found) == 3:
            return found
    raise AssertionError("no keys found")


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn(default=Reply.completion(assessment("jp-01-us-japan-critical-minerals"))) as standin:
        yield standin


@pytest.fixture
def keys() -> dict[str, str]:
    return keys_on_each_arm(10)


@pytest.fixture
async def client(registry_dir: Path, provider: StandIn, keys: dict[str, str], tmp_path: Path) -> AsyncIterator[Client]:
    add_rollout(registry_dir)
    settings = Settings(
        registry_dir=str(registry_dir),
        cache_dir=str(tmp_path / "cache"),
        openai_base_url=provider.base_url,
        openai_api_key="sk-test",
        api_keys=",".join(keys.values()),
        caller_secret=SECRET,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


BODY = {"agent": "jp-01", "context": US_JAPAN_MINERALS}


async def test_each_caller_sees_its_arm_in_the_envelope_and_headers_every_time(
    client: Client, keys: dict[str, str]
) -> None:
    details = (await client.get("/agents/jp-01", headers=auth(keys["label"]))).json()["version_details"]
    sha = {v["version"]: v["sha256"] for v in details}
    expected = {"rollout": "1.1.0", "label": "1.0.0"}
    for arm, version in expected.items():
        for _ in range(3):  # sticky
            response = await client.post("/assess", json=BODY, headers={**auth(keys[arm]), "Cache-Control": "no-cache"})
            assert response.status_code == 200, response.text
            prompt = response.json()["prompt"]
            assert prompt == {
                "version": version,
                "label": "stable",
                "sha256": sha[version],
                "rollout": {"version": "1.1.0", "percent": 10.0, "arm": arm},
            }
            assert response.headers["attache-prompt-version"] == version
            assert response.headers["attache-prompt-label"] == "stable"
            assert response.headers["attache-prompt-rollout"] == f'"1.1.0";percent=10;arm={arm}'
    exact = await client.post("/assess", json={**BODY, "agent": "jp-01@1.0.0"}, headers=auth(keys["rollout"]))
    assert exact.json()["prompt"] == {"version": "1.0.0", "label": None, "sha256": sha["1.0.0"]}
    assert "attache-prompt-rollout" not in exact.headers
    assert "attache-prompt-label" not in exact.headers


async def test_the_agents_views_show_the_rollout_and_each_callers_version(client: Client, keys: dict[str, str]) -> None:
    listed = {a["id"]: a for a in (await client.get("/agents", headers=auth(keys["label"]))).json()["agents"]}
    assert listed["jp-01"]["rollouts"] == {"stable": {"version": "1.1.0", "percent": 10.0}}
    assert listed["kr-01"]["rollouts"] == {}
    detail = (await client.get("/agents/jp-01", headers=auth(keys["label"]))).json()
    assert detail["rollouts"] == {"stable": {"version": "1.1.0", "percent": 10.0}}
    for arm, version in (("rollout", "1.1.0"), ("label", "1.0.0")):
        response = await client.get("/agents/jp-01/versions/stable", headers=auth(keys[arm]))
        body = response.json()
        assert (body["version"], body["label"]) == (version, "stable")
        assert body["rollout"] == {"version": "1.1.0", "percent": 10.0, "arm": arm}
        assert response.headers["cache-control"] == "private, max-age=60", "no shared cache keeps one caller's arm"
    canary = await client.get("/agents/jp-01/versions/canary", headers=auth(keys["label"]))
    assert canary.json()["rollout"] is None
    assert canary.headers["cache-control"] == "public, max-age=60"


async def test_the_response_cache_never_serves_one_arm_to_the_other(
    client: Client, keys: dict[str, str], provider: StandIn
) -> None:
    first = (await client.post("/assess", json=BODY, headers=auth(keys["rollout"]))).json()
    other_arm = (await client.post("/assess", json=BODY, headers=auth(keys["label"]))).json()
    assert len(provider.received) == 2, "the other arm is a different prompt: asked afresh"
    assert "cached_from" not in other_arm
    assert (first["prompt"]["version"], other_arm["prompt"]["version"]) == ("1.1.0", "1.0.0")
    same_arm = (await client.post("/assess", json=BODY, headers=auth(keys["rollout-2"]))).json()
    assert same_arm["cached_from"] == first["id"]
    assert same_arm["prompt"]["rollout"] == {"version": "1.1.0", "percent": 10.0, "arm": "rollout"}
    exact = (await client.post("/assess", json={**BODY, "agent": "jp-01@1.1.0"}, headers=auth(keys["label"]))).json()
    assert exact["cached_from"] == first["id"], "the same prompt asked by exact version is the same request"
    assert exact["prompt"] == {"version": "1.1.0", "label": None, "sha256": first["prompt"]["sha256"]}
    assert len(provider.received) == 2


async def test_a_replayed_answer_keeps_its_rollout_headers(client: Client, keys: dict[str, str]) -> None:
    headers = {**auth(keys["rollout"]), "Idempotency-Key": "rollout-replay-1"}
    first = await client.post("/assess", json=BODY, headers=headers)
    again = await client.post("/assess", json=BODY, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    for name in ("attache-prompt-version", "attache-prompt-label", "attache-prompt-rollout"):
        assert again.headers[name] == first.headers[name]
    kept: dict[str, Any] = (
        await client.get(f"/assessments/{first.json()['id']}", headers=auth(keys["rollout"]))
    ).json()
    assert kept["prompt"]["rollout"]["arm"] == "rollout"
