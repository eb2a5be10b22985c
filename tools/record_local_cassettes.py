"""Record the news scenarios from the local model into `cassettes/local/`.

    make cassettes-local

Starts llama-cpp-python's server with SmolLM2-135M on 127.0.0.1:8011 (tools/local_model.py)
and runs each news scenario of tools/scenarios.py through the real app, with vcrpy recording
what crossed the wire: the real server's bytes and usage, the model named as the server was
asked (`SmolLM2-135M-Instruct.Q4_1`). `tests/api/test_local_cassettes.py` replays them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import vcr
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tools import cassette_format, local_model
from tools.scenarios import CASSETTES, SCENARIOS

LOCAL_CASSETTES = CASSETTES / "local"
NEWS = [scenario for scenario in SCENARIOS if scenario.live]


def recorder() -> vcr.VCR:
    """VCR as tests/conftest.py configures it, recording every request anew."""
    recording = vcr.VCR(
        serializer="yaml",
        record_mode="all",
        match_on=["method", "scheme", "host", "port", "path", "prompt"],
        filter_headers=list(cassette_format.SECRET_HEADERS),
        before_record_request=cassette_format.scrub_request,
        before_record_response=cassette_format.scrub_response,
        decode_compressed_response=True,
    )
    recording.register_serializer("yaml", cassette_format)
    recording.register_matcher("prompt", cassette_format.prompt_matcher)
    return recording


async def record(base_url: str, cache: Path, name: str, body: dict[str, Any]) -> str:
    env = {**local_model.attache_env(base_url), "ATTACHE_CACHE_DIR": str(cache), "ATTACHE_DATA_DIR": str(cache)}
    settings = Settings.from_env(env)
    path = LOCAL_CASSETTES / f"{name}.yaml"
    path.unlink(missing_ok=True)
    with recorder().use_cassette(str(path)):
        async with AsyncTestClient(app=create_app(settings), timeout=local_model.DEADLINE + 60) as client:
            response = await client.post("/assess", json=body)
    summary = response.json().get("usage") or response.json().get("code")
    return f"{path.relative_to(CASSETTES.parent)}: /assess answered {response.status_code} ({summary})"


def main(names: list[str]) -> None:
    LOCAL_CASSETTES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        with local_model.llama_server(local_model.LOCAL_PORT, workdir / "llama-server.log") as base_url:
            for scenario in NEWS:
                if not names or scenario.name in names:
                    print(asyncio.run(record(base_url, workdir / "cache", scenario.name, scenario.body)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
