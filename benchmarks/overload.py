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
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentile, rss_mb, start_attache, start_standin  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402

BOUND = int(os.environ.get("BENCH_BOUND", "64"))
CONNECTIONS = 2 * BOUND
SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
PROVIDER_DELAY = 0.5


def main() -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed: apt-get install wrk")
    standin, provider = start_standin(PROVIDER_DELAY)
    service, base = start_attache(provider, max_inflight=str(BOUND))
    body = ROOT / "benchmarks" / ".body.json"
    body.write_text(json.dumps(JP01_SAMPLE_REQUEST))
    probes: list[tuple[int, float]] = []
    memory: list[float] = []
    try:
        idle = rss_mb(service.proc.pid)
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
                    memory.append(rss_mb(service.proc.pid))
                    time.sleep(0.2)

        prober = threading.Thread(target=probe)
        prober.start()
        report, _ = load.communicate()
        prober.join()
    finally:
        body.unlink(missing_ok=True)
        service.stop()
        standin.stop()

    statuses = {int(line.split()[1].rstrip(":")): int(line.split()[2]) for line in report.splitlines()
                if line.startswith("status ")}  # fmt: skip
    shed = [ms for status, ms in probes if status == 503]
    print(f"machine: {os.cpu_count()} cores; bound {BOUND} in flight; wrk {CONNECTIONS} connections for {SECONDS} s")
    print(f"provider latency {PROVIDER_DELAY} s -> at most {BOUND / PROVIDER_DELAY:.0f} assessments/s can be admitted")
    other = sum(n for s, n in statuses.items() if s not in (200, 503))
    admitted, refused = statuses.get(200, 0) / SECONDS, statuses.get(503, 0) / SECONDS
    print(f"wrk responses: {statuses}; admitted {admitted:.1f}/s, shed {refused:.1f}/s, other {other}")
    p50, p99 = percentile(shed, 50), percentile(shed, 99)
    print(
        f"probe during load: {len(probes)} requests, {len(shed)} shed; shed latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"RSS MB: idle {idle:.1f}; under load first {memory[0]:.1f}, max {max(memory):.1f}, last {memory[-1]:.1f}")
    print("wrk latency (all responses):")
    print("\n".join(line for line in report.splitlines() if "Latency" in line or "%" in line))


if __name__ == "__main__":
    main()
