"""Several workers behind one `attache serve`: /metrics sums them, on the API's port or its own."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.api.test_observability import samples, value
from tests.conftest import free_port, serving


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_on_their_own_port_summed_over_workers(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    shared = tmp_path / "shared-tmp"  # a folder with other things in it, like /tmp
    shared.mkdir()
    (shared / "keep.txt").write_text("not ours")
    (shared / "counter_99999.db").write_bytes(b"stale metrics of a dead worker")
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "ATTACHE_METRICS_PORT": str(metrics_port),
        "ATTACHE_CACHE_DIR": "off",
    }
    with serving(env, tmp_path / "serve.log", "--workers", "2", port=port) as (base, _):
        for _ in range(10):
            assert get(f"{base}/agents")[0] == 200
        status, _ = get(f"{base}/metrics")
        assert status == 404, "not served where the API is"
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200
    assert value(samples(text), "attache_http_requests_total", path="/agents", status_code="200") == 10
    assert (shared / "keep.txt").read_text() == "not ours", "only its own metric files are removed"
    assert not (shared / "counter_99999.db").exists()


def test_several_workers_report_one_sum(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "ATTACHE_CACHE_DIR": str(tmp_path / "cache"),
    }
    with serving(env, tmp_path / "serve.log", "--workers", "2") as (base, _):
        time.sleep(1)  # both workers up
        sent = 40
        for _ in range(sent):
            with urllib.request.urlopen(f"{base}/agents", timeout=5) as response:
                assert response.status == 200
        # A request is counted just after its response is sent, so the last one may land a moment later.
        deadline = time.monotonic() + 5
        while True:
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
                found = samples(response.read().decode())
            counted = value(found, "attache_http_requests_total", path="/agents", status_code="200")
            if counted >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert value(found, "attache_http_requests_total", path="/agents", status_code="200") == sent
    pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
    assert len(pids) == 2, f"two worker processes wrote metrics: {pids}"
