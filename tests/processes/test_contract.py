"""The OpenAPI document is the contract, proven with the client generators callers use.

From the running service's own document: openapi-python-client (default settings) must
generate an installable package with no warning, and every operation called through it,
successes and each documented error, must parse into its documented type
(tests/processes/contract_client.py); openapi-typescript's types must type-check with `tsc --strict`
(tests/fixtures/contract/check.ts, the README's example). The generators are pinned, each in its own
environment (`make contract-tools`); under CI=true a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import serving
from tools.scenarios import assessment
from tools.standin import Received, Reply, StandIn

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON_TOOLS = ROOT / ".contract" / "python" / "bin"
NODE_TOOLS = ROOT / ".contract" / "node" / "node_modules" / ".bin"
KEY = "ck-contract-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
LIMITED_KEY = "ck-contract-limited-00112233445566778899aabb"
VALID = assessment("jp-01-us-japan-critical-minerals")


def tool(path: Path) -> Path:
    if not path.exists():
        message = f"{path.name} is not installed: run `make contract-tools`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    return path


def by_news_text(received: Received) -> Reply | None:
    """The stand-in answers by what the caller's news item says, so one server shows every fault."""
    text = received.body.decode("utf-8", "replace")
    if "provider-fails" in text:
        return Reply.error(500, "stand-in failure", "server_error")
    if "provider-hangs" in text:
        return Reply.completion(VALID, delay=30)
    if "rate-limited" in text:
        return Reply.error(429, "slow down", "rate_limit_exceeded", headers={"retry-after": "30"})
    if "model-refuses" in text:
        return Reply.completion(None, refusal="I can't help with that.", finish_reason="stop")
    if "slow-answer" in text:
        return Reply.completion(VALID, delay=3)
    return Reply.completion(VALID)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`attache serve` with keys, the store and the stand-in; yields its URL and its document."""
    tmp = tmp_path_factory.mktemp("contract")
    with StandIn(responder=by_news_text) as provider:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": provider.base_url,
            "OPENAI_API_KEY": "sk-test-contract",
            "ATTACHE_API_KEYS": f"{KEY},{LIMITED_KEY}",
            "ATTACHE_DATA_DIR": str(tmp / "data"),
            "ATTACHE_CACHE_DIR": "off",
            "ATTACHE_RATE_LIMIT_PER_MINUTE": "100",
            "ATTACHE_LLM_TIMEOUT": "6",
            "ATTACHE_LLM_TRANSPORT_RETRIES": "0",
        }
        with serving(env, tmp / "serve.log") as (base, _):
            document = tmp / "openapi.json"
            with urllib.request.urlopen(f"{base}/docs/openapi.json") as response:
                document.write_bytes(response.read())
            yield base, document


def test_the_python_client_generates_cleanly_and_every_operation_parses(
    service: tuple[str, Path], tmp_path: Path
) -> None:
    base, document = service
    generator = tool(PYTHON_TOOLS / "openapi-python-client")
    env = {**os.environ, "PATH": f"{PYTHON_TOOLS}{os.pathsep}{os.environ['PATH']}"}  # its ruff, for its formatting
    generated = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--output-path", str(tmp_path / "attache-client")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "skipping" not in output.lower(), output
    install = subprocess.run(
        [str(PYTHON_TOOLS / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
         str(tmp_path / "attache-client")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    calls = subprocess.run(
        [
            str(PYTHON_TOOLS / "python"),
            str(ROOT / "tests" / "processes" / "contract_client.py"),
            base,
            KEY,
            LIMITED_KEY,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert calls.returncode == 0, calls.stdout[-3000:] + calls.stderr[-3000:]
    checked = set(calls.stdout.split("\n"))
    print(f"{len(checked)} operation/status pairs checked through the generated client")
    for operation in ("list_agents", "get_agent", "get_version", "assess", "get_assessment", "list_assessments"):
        assert any(line.startswith(f"{operation} 4") for line in checked), f"no documented error of {operation} tried"


def test_the_typescript_types_check_strictly(service: tuple[str, Path], tmp_path: Path) -> None:
    _, document = service
    generator = tool(NODE_TOOLS / "openapi-typescript")
    workdir = tmp_path / "ts"
    shutil.copytree(ROOT / "tests" / "fixtures" / "contract", workdir)
    (workdir / "node_modules").symlink_to(NODE_TOOLS.parent)
    generated = subprocess.run(
        [str(generator), str(document), "--output", str(workdir / "attache.d.ts")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    checked = subprocess.run(
        [str(NODE_TOOLS / "tsc"), "--project", str(workdir / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=workdir,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_document_says_what_callers_branch_on(service: tuple[str, Path]) -> None:
    import json

    document = json.loads(service[1].read_text())
    assert document["info"]["title"].isascii(), "client generators derive package names from the title"
    assert "Attaché" in document["info"]["description"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                assert "X-Request-ID" in response.get("headers", {}), (method, path, status)
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
            if operation.get("security"):
                assert {"401", "429"} <= set(operation["responses"]), (method, path)
                assert "RateLimit-Remaining" in operation["responses"]["200"]["headers"]
    assess = document["paths"]["/assess"]["post"]
    assert {p["name"] for p in assess["parameters"]} == {"Idempotency-Key", "Prefer", "Cache-Control"}
    assert {"Deprecation", "Sunset", "Link", "Age"} <= set(assess["responses"]["200"]["headers"])
    assert "text/markdown" in assess["responses"]["200"]["content"]


def readme_block(language: str) -> str:
    """The `language` code block of the README's "Calling Attaché from your service"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Calling Attaché from your service", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_readme_examples_work_as_written(service: tuple[str, Path], tmp_path: Path) -> None:
    base, document = service
    python = tool(PYTHON_TOOLS / "python")
    script = readme_block("python").replace("http://127.0.0.1:8000", base).replace("<key>", KEY)
    ran = subprocess.run(
        [str(python), "-c", script.replace('context="…"', 'context="A framework was signed."')],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("JP-01 Assessment"), ran.stdout
    generator = tool(NODE_TOOLS / "openapi-typescript")
    workdir = tmp_path / "readme-ts"
    workdir.mkdir()
    (workdir / "node_modules").symlink_to(NODE_TOOLS.parent)
    subprocess.run([str(generator), str(document), "--output", str(workdir / "attache.d.ts")], check=True, timeout=300)
    (workdir / "example.mts").write_text(readme_block("ts").replace('"./attache"', '"./attache.js"') + "export {};\n")
    checked = subprocess.run(
        [str(NODE_TOOLS / "tsc"), "--strict", "--noEmit", "--target", "es2022", "--module", "nodenext",
         "--moduleResolution", "nodenext", "example.mts"],
        capture_output=True, text=True, timeout=300, check=False, cwd=workdir,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
