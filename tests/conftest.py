"""Shared fixtures: copies of the real registry to break, and apps built on them."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import DEFAULT_REGISTRY_DIR, Settings
from tools import cassette_format
from tools.servers import free_port as free_port  # re-exported: tests import it from here

ATTACHE = str(Path(sys.executable).with_name("attache"))
CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"


# VCR logs every recorded body at INFO; failures are readable without it.
logging.getLogger("vcr").setLevel(logging.WARNING)


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_serializer("yaml", cassette_format)  # replaces VCR's own, keeps the .yaml name
    vcr.register_matcher("prompt", cassette_format.prompt_matcher)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    # No record_mode here: it would override --record-mode, which re-recording needs.
    return {
        "serializer": "yaml",
        "match_on": ["method", "scheme", "host", "port", "path", "prompt"],
        "filter_headers": list(cassette_format.SECRET_HEADERS),
        "before_record_request": cassette_format.scrub_request,
        "before_record_response": cassette_format.scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and every process it starts) keeps its data in its own folder, never in ~."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """A writable copy of the repository's registry."""
    target = tmp_path / "registry"
    shutil.copytree(DEFAULT_REGISTRY_DIR, target)
    return target


@pytest.fixture
def settings(registry_dir: Path, tmp_path: Path) -> Settings:
    return Settings(registry_dir=str(registry_dir), cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is RFC 9457 problem details with `status` and `code`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def wait_until_up(url: str, *, logs: list[Path], procs: list[subprocess.Popen[Any]], seconds: float = 60) -> None:
    """Poll `url` until it answers; fail with the processes' logs if one dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                dump = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
                why = f"{dead[0].args!r} exited" if dead else f"not up within {seconds:g} s"
                pytest.fail(f"{url}: {why}\n{dump}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for the session (tools.servers.PostgresServer)."""
    from tools.servers import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind the store runs on, as ATTACHE_DATABASE_URL takes it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'attache.db'}"
    server = request.getfixturevalue("postgres")
    url: str = server.database()
    return url


@contextlib.contextmanager
def serving(
    env: dict[str, str], log: Path, *args: str, port: int | None = None, seconds: float = 60
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`attache serve` (with `args`) as a real process on loopback, on `port` or a free one, its
    output appended to `log`; yields its base URL and process once it is ready, and stops it
    at the end if it still runs (SIGTERM, then SIGKILL after a minute)."""
    port = port or free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([ATTACHE, "serve", "--port", str(port), *args], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health/ready", logs=[log], procs=[proc], seconds=seconds)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """`attache serve` as a real process on a free loopback port; yields its base URL."""
    env = {**os.environ, "ATTACHE_CACHE_DIR": str(tmp_path / "cache")}
    with serving(env, tmp_path / "serve.log") as (base, _):
        yield base


class ContractChecker:
    """Checks every Attaché response a test receives against the service's own OpenAPI document.

    Responses carry `X-Request-ID` when Attaché sent them (the stand-in provider's do not); each
    is validated (status, media type, body, headers) against the operation it answered, by
    schemathesis. The document comes from the same server or app, once per client.
    """

    def __init__(self) -> None:
        self.schemas: dict[Any, Any] = {}

    def check(self, key: Any, document: Any, response: Any) -> None:
        import requests
        import schemathesis

        if key not in self.schemas:
            self.schemas[key] = schemathesis.openapi.from_dict(document)
        request = response.request
        try:
            operation = self.schemas[key].find_operation_by_path(request.method, request.url.path)
        except Exception:  # a route the document does not describe (/metrics, a 404): nothing to check
            return
        if operation is None:
            return
        # A test may send a malformed header on purpose; schemathesis cannot copy such a request.
        with contextlib.suppress(requests.exceptions.InvalidHeader):
            operation.validate_response(response)


def _ours(request: Any, response: Any) -> bool:
    path = request.url.path
    return "x-request-id" in response.headers and not path.startswith(("/docs", "/metrics"))


@pytest.fixture(autouse=True)
def _responses_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every response the suite receives from Attaché validates against its OpenAPI document."""
    import httpx

    checker = ContractChecker()
    send_async, send_sync = httpx.AsyncClient.send, httpx.Client.send

    async def checked_async(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await send_async(self, request, **kwargs)
        if _ours(request, response) and not kwargs.get("stream"):
            key = (id(self), request.url.host, request.url.port)
            document = None
            if key not in checker.schemas:
                contract = self.build_request("GET", request.url.join("/docs/openapi.json"))
                document = (await send_async(self, contract)).json()
            checker.check(key, document, response)
        return response

    def checked_sync(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = send_sync(self, request, **kwargs)
        if _ours(request, response) and not kwargs.get("stream"):
            key = (id(self), request.url.host, request.url.port)
            document = None
            if key not in checker.schemas:
                document = send_sync(self, self.build_request("GET", request.url.join("/docs/openapi.json"))).json()
            checker.check(key, document, response)
        return response

    monkeypatch.setattr(httpx.AsyncClient, "send", checked_async)
    monkeypatch.setattr(httpx.Client, "send", checked_sync)
