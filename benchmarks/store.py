"""What keeping every assessment costs, and what the response cache saves.

    make bench-store      (also part of `make bench`)

Over loopback with the stand-in provider, in one run:

1. added latency p50/p99 of POST /assess at concurrency 1, with the store off, on SQLite
   and on PostgreSQL (a real server started here), against the openai SDK calling the
   stand-in directly, the calls of all four taking turns; response cache off
   (benchmarks.common), so every request writes a row;
2. a cache hit end to end (p50/p99, concurrency 1) and cache hits per second at 256
   connections on one worker (wrk);
3. throughput at 256 connections with a 0.5 s provider, store off and on (SQLite), the
   wrk runs alternating between the two.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.assess_overhead import captured_body  # noqa: E402
from benchmarks.common import DELAY, Process, percentile, sequential, start_attache, start_standin, wrk  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "300"))
ROUNDS = 2  # wrk runs per variant, alternating
CACHE_ON = {"response_cache_ttl": "3600"}
Row = tuple[str, str]


def p50_p99(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} / {percentile(samples, 99):.2f} ms"


@contextmanager
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server (tools.servers), or None where PostgreSQL is not installed."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        yield None
        return
    from tools.servers import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def stores(workdir: Path, server: Any) -> dict[str, dict[str, str]]:
    """The store variants: settings for each, each with a data folder of its own."""
    variants = {
        "off": {"database_url": "off"},
        "SQLite": {"data_dir": str(workdir / "sqlite")},
    }
    if server is not None:
        # A PostgreSQL store is a fleet's: its caller secret is set, as every replica would have it.
        variants["PostgreSQL"] = {"database_url": server.database(), "caller_secret": "bench-" + "s" * 32}
    return variants


async def timed(base: str, runs: int, body: dict[str, Any]) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def assess() -> None:
            (await http.post("/assess", json=body)).raise_for_status()

        return await sequential(assess, runs)


def with_service(provider: str, settings: dict[str, str], work: Callable[[str, Process], Any]) -> Any:
    service, base = start_attache(provider, **settings)
    try:
        return work(base, service)
    finally:
        service.stop()


def added_latency(provider: str, workdir: Path, server: Any) -> list[Row]:
    """Added latency of /assess over the bare SDK call, for each store (cache off).

    Every variant runs at once and the requests take turns (SDK, off, SQLite, PostgreSQL,
    SDK, ...), so a machine that gets busier during the run slows them all alike and the
    difference between two variants is the store's, not the moment's.
    """
    variants = stores(workdir, server)
    services = {name: start_attache(provider, **settings) for name, settings in variants.items()}
    try:
        samples = asyncio.run(interleaved(provider, {name: base for name, (_, base) in services.items()}))
    finally:
        for service, _ in services.values():
            service.stop()
    sdk = samples.pop("SDK")
    rows: list[Row] = [("SDK straight to the stand-in, p50 / p99 (c=1)", p50_p99(sdk))]
    medians = {name: statistics.median(found) - statistics.median(sdk) for name, found in samples.items()}
    for name, found in samples.items():
        added = f"{medians[name]:.2f} / {percentile(found, 99) - percentile(sdk, 99):.2f} ms"
        rows.append((f"added latency p50 / p99, store {name}", added))
    rows.extend(
        (f"  the {name} write adds (p50)", f"{medians[name] - medians['off']:+.2f} ms")
        for name in sorted(medians.keys() - {"off"})
    )
    return rows


async def interleaved(provider: str, bases: dict[str, str]) -> dict[str, list[float]]:
    """Milliseconds per call for the SDK and each service, `RUNS` rounds of one call each."""
    body: Any = await captured_body()
    direct = openai.AsyncOpenAI(base_url=provider, api_key="sk-bench", max_retries=0)
    clients = {name: httpx.AsyncClient(base_url=base, timeout=30) for name, base in bases.items()}

    async def assess(http: httpx.AsyncClient) -> None:
        (await http.post("/assess", json=JP01_SAMPLE_REQUEST)).raise_for_status()

    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "SDK": lambda: direct.chat.completions.create(**body),
        **{name: partial(assess, http) for name, http in clients.items()},
    }
    samples: dict[str, list[float]] = {name: [] for name in calls}
    try:
        for round_ in range(RUNS + 30):  # the first 30 rounds warm up, untimed
            for name, call in calls.items():
                started = time.perf_counter()
                await call()
                if round_ >= 30:
                    samples[name].append((time.perf_counter() - started) * 1000)
    finally:
        await direct.close()
        for http in clients.values():
            await http.aclose()
    return samples


def cache_hits(provider: str, workdir: Path, wrk: Callable[..., tuple[float, int, float]]) -> list[Row]:
    """A cache hit end to end, and hits per second at 256 connections on one worker (SQLite)."""

    def measure(base: str, service: Process) -> list[Row]:
        httpx.post(f"{base}/assess", json=JP01_SAMPLE_REQUEST, timeout=30).raise_for_status()  # the original
        hits = asyncio.run(timed(base, RUNS, JP01_SAMPLE_REQUEST))
        rate, errors, _ = wrk(f"{base}/assess", JP01_SAMPLE_REQUEST, workdir, service.proc.pid)
        return [
            ("cache hit end to end, p50 / p99 (c=1)", p50_p99(hits)),
            ("cache hits, 256 conns, 1 worker", f"{rate:.0f} req/s, {errors} errors"),
        ]

    result: list[Row] = with_service(provider, {"data_dir": str(workdir / "cache-hits"), **CACHE_ON}, measure)
    return result


def store_throughput(provider: str, workdir: Path, wrk: Callable[..., tuple[float, int, float]]) -> list[Row]:
    """Throughput at 256 connections with a 0.5 s provider, store off and on (cache off).

    Both services stay up and the wrk runs alternate (off, SQLite, off, SQLite), so a drift
    in the machine's speed during the benchmark falls on both alike.
    """
    variants = stores(workdir, None)
    services = {name: start_attache(provider, **settings) for name, settings in variants.items()}
    rates: dict[str, list[float]] = {name: [] for name in services}
    errors = dict.fromkeys(services, 0)
    try:
        for _ in range(ROUNDS):
            for name, (service, base) in services.items():
                rate, failed, _ = wrk(f"{base}/assess", JP01_SAMPLE_REQUEST, workdir, service.proc.pid)
                rates[name].append(rate)
                errors[name] += failed
    finally:
        for service, _ in services.values():
            service.stop()
    rows: list[Row] = []
    for name, found in rates.items():
        each = ", ".join(f"{rate:.0f}" for rate in found)
        rows.append(
            (
                f"throughput, 256 conns, 0.5 s provider, store {name}",
                f"{statistics.mean(found):.0f} req/s ({each}), {errors[name]} errors",
            )
        )
    ratio = statistics.mean(rates["SQLite"]) / statistics.mean(rates["off"]) * 100
    rows.append(("  store on / store off", f"{ratio:.0f} %"))
    return rows


def main() -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, postgres() as server:
        workdir = Path(tmp)
        fast, fast_url = start_standin(0.0)
        slow, slow_url = start_standin(DELAY)
        try:
            rows += added_latency(fast_url, workdir, server)
            rows += cache_hits(fast_url, workdir, wrk)
            rows += store_throughput(slow_url, workdir, wrk)
        finally:
            fast.stop()
            slow.stop()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; attache serve, 1 worker")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
