"""Overload at twice the in-flight bound: admitted requests succeed, the rest are shed fast,
memory stays flat.

    make bench-overload

The stand-in provider answers every call after 0.5 s; `attache serve` runs with
ATTACHE_MAX_INFLIGHT=64; this client keeps 128 requests in flight for 30 s. Prints status
counts, latency of admitted and shed requests, and the service's RSS over time. Asserts
nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.fixtures.news import JP01_SAMPLE_REQUEST  # noqa: E402

BOUND = int(os.environ.get("BENCH_BOUND", "64"))
CONCURRENCY = 2 * BOUND
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
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


Result = tuple[Counter[int], Counter[str], dict[int, list[float]], list[tuple[float, float]]]


async def load(base: str, pid: int) -> Result:
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: dict[int, list[float]] = {200: [], 503: []}
    memory: list[tuple[float, float]] = []
    stop = time.monotonic() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    response = await client.post("/assess", json=JP01_SAMPLE_REQUEST)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                statuses[response.status_code] += 1
                latencies.setdefault(response.status_code, []).append((time.perf_counter() - started) * 1000)
                if response.status_code == 503:
                    await asyncio.sleep(0.05)  # what a client honouring Retry-After would at least do

        async def sample() -> None:
            started = time.monotonic()
            while time.monotonic() < stop:
                memory.append((time.monotonic() - started, rss_mb(pid)))
                await asyncio.sleep(1)

        await asyncio.gather(sample(), *(worker() for _ in range(CONCURRENCY)))
    return statuses, errors, latencies, memory


def main() -> None:
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
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/ready")
        idle = rss_mb(service.pid)
        statuses, errors, latencies, memory = asyncio.run(load(f"http://127.0.0.1:{port}", service.pid))
    finally:
        service.terminate()
        standin.terminate()
        service.wait(30)
        standin.wait(30)

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")

    print(f"machine: {os.cpu_count()} cores; bound {BOUND} in flight, {CONCURRENCY} concurrent clients, {SECONDS:g} s")
    print(f"provider latency {PROVIDER_DELAY} s -> at most {BOUND / PROVIDER_DELAY:.0f} assessments/s can be admitted")
    print(f"responses: {dict(sorted(statuses.items()))}")
    admitted, shed = latencies.get(200, []), latencies.get(503, [])
    rate = len(admitted) / SECONDS
    print(f"admitted (200): {rate:6.1f}/s  p50 {pct(admitted, 50):7.1f} ms  p99 {pct(admitted, 99):7.1f} ms")
    print(f"shed (503):     {len(shed) / SECONDS:6.1f}/s  p50 {pct(shed, 50):7.1f} ms  p99 {pct(shed, 99):7.1f} ms")
    others = {code: n for code, n in statuses.items() if code not in (200, 503)}
    print(f"other statuses: {others or 'none'}; transport errors: {dict(errors) or 'none'}")
    values = [m for _, m in memory]
    print(f"RSS MB: idle {idle:.1f}, first second {values[0]:.1f}, max {max(values):.1f}, last {values[-1]:.1f}")


if __name__ == "__main__":
    main()
