"""SIGTERM: stop accepting, let in-flight assessments finish within the grace period, exit."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import serving
from tools.news import JP01_SAMPLE_REQUEST
from tools.scenarios import assessment
from tools.standin import Reply, StandIn


def post_assess(base: str, results: list[object], timeout: float = 30) -> None:
    request = urllib.request.Request(
        f"{base}/assess", json.dumps(JP01_SAMPLE_REQUEST).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            results.append(response.status)
    except (urllib.error.URLError, ConnectionError) as exc:
        results.append(exc)


def test_sigterm_drains_in_flight_assessments_then_exits(tmp_path: Path) -> None:
    with StandIn(default=Reply.completion(assessment("jp-01-us-japan-critical-minerals"), delay=2.0)) as provider:
        env = {**os.environ, "OPENAI_BASE_URL": provider.base_url, "OPENAI_API_KEY": "sk-test",
               "ATTACHE_CACHE_DIR": "off", "ATTACHE_SHUTDOWN_GRACE": "10"}  # fmt: skip
        log = tmp_path / "serve.log"
        with serving(env, log) as (base, proc):
            results: list[object] = []
            in_flight = [threading.Thread(target=post_assess, args=(base, results)) for _ in range(3)]
            for thread in in_flight:
                thread.start()
            while len(provider.received) < 3:  # all three are at the provider
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            late: list[object] = []
            post_assess(base, late)  # arrives after SIGTERM
            for thread in in_flight:
                thread.join(30)
            code = proc.wait(timeout=30)
    assert results == [200, 200, 200], "in-flight assessments finish"
    assert isinstance(late[0], Exception), "no new requests after SIGTERM"
    # uvicorn finishes the shutdown, then re-raises the signal it caught: the process ends "by SIGTERM".
    assert code == -signal.SIGTERM
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("Shutting down" in line["event"] for line in lines)


def test_an_assessment_slower_than_the_old_30_s_drain_finishes_during_shutdown(tmp_path: Path) -> None:
    """With the defaults (a 60 s deadline), the drain follows the deadline, not a fixed 30 s."""
    slow = Reply.completion(assessment("jp-01-us-japan-critical-minerals"), delay=35.0)
    with StandIn(default=slow) as provider:
        env = {**os.environ, "OPENAI_BASE_URL": provider.base_url, "OPENAI_API_KEY": "sk-test"}
        env["ATTACHE_CACHE_DIR"] = "off"
        env.pop("ATTACHE_SHUTDOWN_GRACE", None)
        env.pop("ATTACHE_LLM_TIMEOUT", None)
        with serving(env, tmp_path / "serve.log") as (base, proc):
            results: list[object] = []
            in_flight = threading.Thread(target=post_assess, args=(base, results, 60))
            in_flight.start()
            while not provider.received:
                time.sleep(0.02)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            probe: list[object] = []
            try:
                with urllib.request.urlopen(f"{base}/health/ready", timeout=5) as response:
                    probe.append(response.status)
            except (urllib.error.URLError, ConnectionError) as exc:
                probe.append(exc)
            in_flight.join(60)
            proc.wait(timeout=60)
            drained = time.monotonic() - signalled
    assert results == [200], "finished during shutdown, past the old 30 s drain"
    assert drained > 30
    assert probe[0] != 200, "not ready once SIGTERM arrives: the readiness probe fails"
