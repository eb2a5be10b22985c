"""Overload at twice the in-flight bound: admitted requests succeed, the rest are shed fast,
memory stays flat.

    make bench-overload        # needs wrk (apt-get install wrk)

The stand-in provider answers every call after 0.5 s; `attache serve` runs with
ATTACHE_MAX_INFLIGHT=64; wrk (C, so the load generator does not starve the service of CPU)
keeps 128 connections busy for 30 s, resending at once on every 503 — harsher than a client
that honours Retry-After. Meanwhile a probe sends one request every 200 ms and times it:
with 64 in flight, the probe's requests are shed, so their latency is the cost of a
refusal under load. Prints counts, latencies and the service's RSS. Asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.fixtures.news import JP01_SAMPLE_REQUEST  # noqa: E402

BOUND = int(os.environ.get("BENCH_BOUND", "64"))
CONNECTIONS = 2 * BOUND
SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
PROVIDER_DELAY = 0.5


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def main() -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed: apt-get install wrk")
    standin_port, port = free_port(), free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.standin", "--port", str(standin_port), "--delay", str(PROVIDER_DELAY)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{standin_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "ATTACHE_MAX_INFLIGHT": str(BOUND),
        "ATTACHE_RATE_LIMIT_PER_MINUTE": "0",
        "ATTACHE_LOG_LEVEL": "warning",
    }
    service = subprocess.Popen(
        [str(Path(sys.executable).with_name("attache")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    body = ROOT / "benchmarks" / ".body.json"
    body.write_text(json.dumps(JP01_SAMPLE_REQUEST))
    probes: list[tuple[int, float]] = []
    memory: list[float] = []
    try:
        wait_ready(f"{base}/health/ready")
        idle = rss_mb(service.pid)
        script = str(ROOT / "benchmarks" / "assess.lua")
        load = subprocess.Popen(
            [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", script, f"{base}/assess"],
            env={**os.environ, "BODY_FILE": str(body)},
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

        def probe() -> None:
            time.sleep(2)  # let the load fill the worker
            with httpx.Client(base_url=base, timeout=30) as client:
                while load.poll() is None:
                    started = time.perf_counter()
                    status = client.post("/assess", json=JP01_SAMPLE_REQUEST).status_code
                    probes.append((status, (time.perf_counter() - started) * 1000))
                    memory.append(rss_mb(service.pid))
                    time.sleep(0.2)

        prober = threading.Thread(target=probe)
        prober.start()
        report, _ = load.communicate()
        prober.join()
    finally:
        body.unlink(missing_ok=True)
        service.terminate()
        standin.terminate()
        service.wait(30)
        standin.wait(30)

    statuses = {int(line.split()[1].rstrip(":")): int(line.split()[2]) for line in report.splitlines()
                if line.startswith("status ")}  # fmt: skip
    shed = [ms for status, ms in probes if status == 503]
    print(f"machine: {os.cpu_count()} cores; bound {BOUND} in flight; wrk {CONNECTIONS} connections for {SECONDS} s")
    print(f"provider latency {PROVIDER_DELAY} s -> at most {BOUND / PROVIDER_DELAY:.0f} assessments/s can be admitted")
    other = sum(n for s, n in statuses.items() if s not in (200, 503))
    admitted, refused = statuses.get(200, 0) / SECONDS, statuses.get(503, 0) / SECONDS
    print(f"wrk responses: {statuses}; admitted {admitted:.1f}/s, shed {refused:.1f}/s, other {other}")
    print(f"probe during load: {len(probes)} requests, {len(shed)} shed; shed latency p50 {pct(shed, 50):.1f} ms, "
          f"p99 {pct(shed, 99):.1f} ms")  # fmt: skip
    print(f"RSS MB: idle {idle:.1f}; under load first {memory[0]:.1f}, max {max(memory):.1f}, last {memory[-1]:.1f}")
    print("wrk latency (all responses):")
    print("\n".join(line for line in report.splitlines() if "Latency" in line or "%" in line))


if __name__ == "__main__":
    main()
