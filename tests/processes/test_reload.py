"""Reload without a restart: SIGHUP, polling, a Kubernetes ConfigMap swap; the last good registry on failure."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.registry.lock import LOCK_NAME, read_lock, write_lock
from service.settings import DEFAULT_REGISTRY_DIR, Settings
from tests.api.test_observability import samples, value
from tests.conftest import ATTACHE, free_port, wait_until_up
from tests.unit.registry.test_load import edit
from tools.news import US_JAPAN_MINERALS
from tools.scenarios import assessment
from tools.standin import Reply, StandIn

Client = AsyncTestClient[Litestar]
BODY = {"agent": "jp-01", "context": US_JAPAN_MINERALS}
ANSWER = assessment("jp-01-us-japan-critical-minerals")


@pytest.fixture
def provider() -> Iterator[StandIn]:
    with StandIn(default=Reply.completion(ANSWER)) as standin:
        yield standin


def settings_for(registry_dir: Path, tmp_path: Path, provider: StandIn | None = None, **extra: Any) -> Settings:
    return Settings(
        registry_dir=str(registry_dir),
        cache_dir=str(tmp_path / "cache"),
        openai_base_url=provider.base_url if provider else None,
        openai_api_key="sk-test" if provider else None,
        response_cache_ttl=0,
        **extra,
    )


async def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Await `check()` until it returns something truthy; its last value otherwise fails the test."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            assert result, "condition not met in time"
            return result
        await asyncio.sleep(0.05)


async def ready(client: Client) -> dict[str, Any]:
    registry: dict[str, Any] = (await client.get("/health/ready")).json()["registry"]
    return registry


def publish(registry_dir: Path, version: str, changelog: str) -> None:
    """Publish `jp-01/<version>.yaml` (1.1.0's prompt, another changelog) and lock it, as a team would."""
    source = (registry_dir / "jp-01" / "1.1.0.yaml").read_text(encoding="utf-8")
    _, _, rest = source.partition("model:")
    (registry_dir / "jp-01" / f"{version}.yaml").write_text(f"changelog: >-\n  {changelog}\nmodel:{rest}")
    lock = read_lock(registry_dir)
    entries = dict(lock.entries)
    entries[f"jp-01/{version}.yaml"] = hashlib.sha256(
        (registry_dir / "jp-01" / f"{version}.yaml").read_bytes()
    ).hexdigest()
    write_lock(registry_dir, type(lock)(entries))


# -- in one process --------------------------------------------------------------------------


@pytest.fixture
async def client(registry_dir: Path, tmp_path: Path, provider: StandIn) -> AsyncIterator[Client]:
    settings = settings_for(registry_dir, tmp_path, provider, registry_reload_seconds=0.1)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_a_label_moved_on_disk_is_served_and_an_assessment_in_flight_keeps_its_version(
    client: Client, registry_dir: Path, provider: StandIn
) -> None:
    before = await ready(client)
    provider.push(Reply.completion(ANSWER, delay=1.5))  # the first assessment is slow
    in_flight = asyncio.create_task(client.post("/assess", json=BODY))

    async def at_the_provider() -> bool:
        return len(provider.received) == 1

    await eventually(at_the_provider)
    edit(registry_dir / "jp-01" / "persona.yaml", "stable: 1.0.0", "stable: 1.1.0")

    async def moved() -> bool:
        return bool((await ready(client))["labels_digest"] != before["labels_digest"])

    await eventually(moved)
    after = (await client.post("/assess", json=BODY)).json()
    assert after["prompt"]["version"] == "1.1.0", "a new request sees the moved label"
    first = (await in_flight).json()
    assert first["prompt"]["version"] == "1.0.0", "the assessment in flight finishes on the version it resolved"
    assert first["prompt"]["sha256"] != after["prompt"]["sha256"]
    now = await ready(client)
    assert now["lock_digest"] == before["lock_digest"], "no version was published: the lock is unchanged"
    assert now["reload_error"] is None
    assert now["loaded_at"] > before["loaded_at"]
    found = samples((await client.get("/metrics")).text)
    assert value(found, "attache_registry_reloads_total", outcome="ok") == 1
    # Metrics are per process: other tests' registries have their own series; these two are this app's.
    info = {
        dict(labels)["labels_digest"]: v
        for (name, labels), v in found.items()
        if name == "attache_registry_lock_info"
        and dict(labels)["lock_digest"] == now["lock_digest"]
        and dict(labels)["labels_digest"] in (before["labels_digest"], now["labels_digest"])
    }
    assert info == {before["labels_digest"]: 0.0, now["labels_digest"]: 1.0}


async def test_an_invalid_change_keeps_the_last_good_registry_until_it_is_fixed(
    client: Client, registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await ready(client)
    persona = registry_dir / "kr-01" / "persona.yaml"
    good = persona.read_text()
    persona.write_text(good + "mood: tense\n")

    async def failed() -> str | None:
        error: str | None = (await ready(client))["reload_error"]
        return error

    error = await eventually(failed)
    assert f"{persona}:" in error
    assert "unknown key `mood`" in error
    assert (await ready(client))["labels_digest"] == before["labels_digest"], "still the last good registry"
    assert (await client.get("/agents/kr-01")).status_code == 200
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [line] = [entry for entry in logged if entry["event"].startswith("registry reload failed")]
    assert line["level"] == "error"
    assert "unknown key `mood`" in line["problems"][0]
    await asyncio.sleep(0.5)
    found = samples((await client.get("/metrics")).text)
    assert value(found, "attache_registry_reloads_total", outcome="failed") == 1, "a broken file is not retried"

    persona.write_text(good.replace("stable: 1.0.0", "stable: 1.0.0\n  beta: 1.0.0"))

    async def fixed() -> bool:
        state = await ready(client)
        return state["reload_error"] is None and state["labels_digest"] != before["labels_digest"]

    await eventually(fixed)
    assert (await client.get("/agents/kr-01/versions/beta")).status_code == 200


async def test_a_published_version_and_a_rollout_land_together(client: Client, registry_dir: Path) -> None:
    before = await ready(client)
    publish(registry_dir, "1.2.0", "Another calibration pass.")
    edit(
        registry_dir / "jp-01" / "persona.yaml",
        "deprecations: []",
        "rollouts:\n  stable: {version: 1.2.0, percent: 100}\ndeprecations: []",
    )

    async def landed() -> bool:
        return bool((await ready(client))["lock_digest"] != before["lock_digest"])

    await eventually(landed)
    envelope = (await client.post("/assess", json=BODY)).json()
    assert envelope["prompt"]["version"] == "1.2.0"
    assert envelope["prompt"]["rollout"] == {"version": "1.2.0", "percent": 100.0, "arm": "rollout"}
    assert (await ready(client))["versions"] == before["versions"] + 1


# -- a Kubernetes ConfigMap volume -----------------------------------------------------------


def registry_files(root: Path) -> dict[str, bytes]:
    """What a ConfigMap of the registry holds: the lock and every persona's files (no eval suites)."""
    files = {LOCK_NAME: (root / LOCK_NAME).read_bytes()}
    for path in sorted(root.glob("*/*.yaml")):
        files[f"{path.parent.name}/{path.name}"] = path.read_bytes()
    return files


def kubelet_write(volume: Path, files: dict[str, bytes], generation: int) -> None:
    """Update a ConfigMap volume exactly as kubelet's AtomicWriter does.

    The files go into a new hidden timestamped folder; a `..data_tmp` symlink to it is renamed
    over `..data` (one atomic step); each top-level name is a symlink through `..data`; the
    previous folder is then removed.
    """
    stamp = f"..2026_11_30_00_00_{generation:02d}.{generation:09d}"
    for rel, content in files.items():
        path = volume / stamp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    data = volume / "..data"
    previous = data.readlink() if data.is_symlink() else None
    (volume / "..data_tmp").symlink_to(stamp)
    (volume / "..data_tmp").rename(data)
    for top in {rel.split("/")[0] for rel in files}:
        if not (volume / top).is_symlink():
            (volume / top).symlink_to(f"..data/{top}")
    if previous is not None:
        shutil.rmtree(volume / previous)


async def test_a_configmap_update_by_symlink_swap_is_served(tmp_path: Path, registry_dir: Path) -> None:
    volume = tmp_path / "configmap"
    volume.mkdir()
    kubelet_write(volume, registry_files(DEFAULT_REGISTRY_DIR), 1)
    settings = settings_for(volume, tmp_path, registry_reload_seconds=0.2)
    async with AsyncTestClient(app=create_app(settings)) as client:
        before = await ready(client)
        assert before["lock_digest"] == read_lock(DEFAULT_REGISTRY_DIR).digest

        publish(registry_dir, "1.2.0", "Another calibration pass.")
        edit(registry_dir / "jp-01" / "persona.yaml", "canary: 1.1.0", "canary: 1.2.0")
        swapped = time.monotonic()
        kubelet_write(volume, registry_files(registry_dir), 2)

        async def landed() -> bool:
            return bool((await ready(client))["lock_digest"] == read_lock(registry_dir).digest)

        await eventually(landed)
        print(f"ConfigMap swap to served: {time.monotonic() - swapped:.2f} s (polling every 0.2 s)")
        version = (await client.get("/agents/jp-01/versions/canary")).json()
        assert version["version"] == "1.2.0"
        assert not list(volume.glob("..2026_11_30_00_00_01*")), "kubelet removed the old generation"

        broken = registry_files(registry_dir)
        broken["jp-01/persona.yaml"] += b"mood: tense\n"
        kubelet_write(volume, broken, 3)

        async def refused() -> str | None:
            error: str | None = (await ready(client))["reload_error"]
            return error

        error = await eventually(refused)
        assert error.startswith(f"1 problem(s): {volume / 'jp-01' / 'persona.yaml'}:"), "named as the operator knows it"
        assert (await client.get("/agents/jp-01/versions/canary")).json()["version"] == "1.2.0", "last good"


# -- real processes: SIGHUP ------------------------------------------------------------------


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def children(pid: int) -> set[int]:
    found = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False)
    return {int(line) for line in found.stdout.split()}


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_every_worker_without_restarting_any(tmp_path: Path, registry_dir: Path, workers: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ATTACHE_REGISTRY_DIR": str(registry_dir),
        "ATTACHE_CACHE_DIR": "off",
        "ATTACHE_REGISTRY_RELOAD_SECONDS": "0",  # only the signal reloads
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [ATTACHE, "serve", "--port", str(port), "--workers", str(workers)], env=env, stdout=out, stderr=out
        )
        try:
            wait_until_up(f"{base}/health/ready", logs=[log], procs=[proc])
            deadline = time.monotonic() + 60
            while value(samples(urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()),
                        "attache_registry_personas") < 8 * workers and time.monotonic() < deadline:  # fmt: skip
                time.sleep(0.2)  # every worker is up (each sets the gauge; /metrics sums them)
            pids = children(proc.pid)
            before = http_json(f"{base}/health/ready")["registry"]
            edit(registry_dir / "jp-01" / "persona.yaml", "stable: 1.0.0", "stable: 1.1.0")
            time.sleep(0.5)
            assert http_json(f"{base}/health/ready")["registry"]["labels_digest"] == before["labels_digest"]
            signalled = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            while True:
                found = samples(urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode())
                if value(found, "attache_registry_reloads_total", outcome="ok") >= workers:
                    break
                assert time.monotonic() - signalled < 20, log.read_text()[-3000:]
                time.sleep(0.05)
            print(f"SIGHUP to {workers} worker(s) reloaded: {time.monotonic() - signalled:.2f} s")
            assert proc.poll() is None, "SIGHUP does not end the server"
            assert children(proc.pid) == pids, "no worker was restarted"
            for _ in range(4 * workers):  # whichever worker answers
                answer = http_json(f"{base}/agents/jp-01/versions/stable")
                assert answer["version"] == "1.1.0"
            assert value(found, "attache_registry_reloads_total", outcome="ok") == workers
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert "registry reloaded" in log.read_text()
