"""A real model on a real OpenAI-compatible server, end to end (tools/local_model.py).

SmolLM2-135M-Instruct under llama-cpp-python's server, and `attache serve` as a real process
wired to it. Needs the local model environment (`make local-model`); under `CI=true` it runs,
never skips (.ci/run builds the environment). Takes ~15 minutes on 2 cores.

The faults a real server showed are provoked on it here; the fault matrix (test_faults.py)
covers the same with the stand-in.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tools import local_model
from tools.news import JP01_SAMPLE_REQUEST, request

if not local_model.installed():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true: the local model environment must be built (`make local-model`)")
    pytest.skip("the local model environment is not built: `make local-model`", allow_module_level=True)

Client = AsyncTestClient[Litestar]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-model")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[str]:
    with local_model.llama_server(local_model.free_port(), workdir / "server.log") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def small_server(workdir: Path) -> Iterator[str]:
    """The same model with a 2,048-token window, for the context-window fault."""
    with local_model.llama_server(local_model.free_port(), workdir / "small.log", n_ctx=2048) as base_url:
        yield base_url


def settings(tmp_path: Path, base_url: str, **overrides: object) -> Settings:
    values = {**local_model.attache_env(base_url), "ATTACHE_CACHE_DIR": str(tmp_path / "cache")}
    values |= {"ATTACHE_DATA_DIR": str(tmp_path / "data")}
    return Settings.from_env(values, **overrides)


def test_the_fixed_set_through_attache_serve(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = local_model.run_fixed_set(workdir)
    with capsys.disabled():
        print("\n" + local_model.report(outcomes))
        print(local_model.server_timings(workdir / "llama-server.log"))
    for outcome in outcomes:
        assert outcome.status in (200, 502), (outcome.name, outcome.body)  # never a 500 or a hang
        if outcome.status == 200:
            assert outcome.body["model"] == local_model.MODEL_NAME
            assert outcome.body["usage"]["output_tokens"] > 0
        else:
            assert outcome.body["code"] in ("invalid_model_output", "output_truncated"), outcome.body
    valid = [o.name for o in outcomes if o.first_attempt_valid]
    assert len(valid) >= 9, f"first-attempt valid: {len(valid)}/10 ({valid})"


async def test_a_cut_off_tool_call_is_truncated_whatever_finish_reason_says(
    server: str, tmp_path: Path, registry_dir: Path
) -> None:
    # llama-cpp-python reports a tool call cut at max_tokens as finished normally.
    stable = (registry_dir / "jp-01" / "1.0.0.yaml").read_text()
    short = stable.replace("max_output_tokens: 4096", "max_output_tokens: 256")  # the registry's least
    (registry_dir / "jp-01" / "1.0.1.yaml").write_text(short)
    lock = registry_dir / "registry.lock"
    lock.write_text(lock.read_text() + f"{hashlib.sha256(short.encode()).hexdigest()}  jp-01/1.0.1.yaml\n")
    app = create_app(settings(tmp_path, server, registry_dir=str(registry_dir), llm_mode="tools"))
    async with AsyncTestClient(app=app, timeout=300) as client:
        response = await client.post("/assess", json={**JP01_SAMPLE_REQUEST, "agent": "jp-01@1.0.1"})
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "output_truncated"
    assert response.json()["attempts"] == 1, "a cut-off answer is final"


async def test_json_schema_mode_on_llama_cpp_python_is_rejected_once(server: str, tmp_path: Path) -> None:
    # Its server answers `response_format: json_schema` with HTTP 500 and a validation message.
    async with AsyncTestClient(app=create_app(settings(tmp_path, server, llm_mode="json_schema"))) as client:
        response = await client.post("/assess", json=JP01_SAMPLE_REQUEST)
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "upstream_rejected"
    assert response.json()["attempts"] == 1, "a malformed request is not retried"


async def test_a_prompt_past_the_context_window_has_its_own_code(small_server: str, tmp_path: Path) -> None:
    news = " ".join(["Tokyo and Washington signed a critical-minerals framework."] * 300)  # ~3,000 tokens
    async with AsyncTestClient(app=create_app(settings(tmp_path, small_server)), timeout=300) as client:
        response = await client.post("/assess", json=request("jp-01", news))
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "context_length_exceeded"
    assert response.json()["attempts"] == 1
