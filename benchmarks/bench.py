"""`make bench`: what Attaché adds on top of the model, against the peer a user would deploy.

Everything runs in one go on this machine, over loopback, with the stand-in provider
(tools/standin.py) as the model:

1. added latency at concurrency 1: POST /assess vs the openai SDK sending the same request
   straight to the stand-in (p50, p99 of the difference);
2. throughput at 256 connections with 500 ms provider latency, with wrk, against the
   Little's-law bound 256 / 0.5 s = 512 requests/s, and the error count;
3. RSS of the service (all processes) at idle and with 256 in flight;
4. start-to-ready with a 50-persona x 10-version registry (warm load cache);
5. the same latency and throughput for LiteLLM proxy in front of the same stand-in, when
   `.bench/litellm/bin/litellm` exists (`make bench` creates it from
   benchmarks/litellm-requirements.txt);
6. the store (benchmarks/store.py): added latency with the store off, on SQLite and on
   PostgreSQL; a cache hit end to end and cache hits per second; throughput store on/off.

The response cache is off except in the cache-hit rows: every other request reaches the
provider (identical requests would otherwise be answered from the store).

The service runs as in production: `attache serve` with the default settings (one worker,
256 in flight, JSON logs at info, to /dev/null here). For comparison, the throughput and RSS
of `--workers 2` are measured too. Prints a table; asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.assess_overhead import captured_body  # noqa: E402
from benchmarks.common import (  # noqa: E402
    CONNECTIONS,
    DELAY,
    Process,
    percentile,
    rss_mb,
    sequential,
    start_attache,
    start_standin,
    wait_ready,
    wrk,
)
from benchmarks.registry_load import generate, start_to_ready  # noqa: E402
from benchmarks.store import added_latency, cache_hits, postgres, store_throughput  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402
from tools.servers import free_port  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "300"))
LITELLM = ROOT / ".bench" / "litellm" / "bin" / "litellm"
LITELLM_KEY = "sk-bench-litellm-master-0123456789abcdef"  # the proxy refuses to start without one


def litellm(provider: str, workdir: Path) -> tuple[Process, str]:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "gpt-4o-2024-08-06",
                        "litellm_params": {
                            "model": "openai/gpt-4o-2024-08-06",
                            "api_base": provider,
                            "api_key": "sk-bench",
                        },
                    }
                ]
            }
        )
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": LITELLM_KEY}
    process = Process([str(LITELLM), "--config", str(config), "--port", str(port), "--num_workers", "2"], env)
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/health/liveliness", process)
    return process, base


async def latencies(provider: str, attache_base: str, litellm_base: str | None) -> dict[str, list[float]]:
    body: Any = await captured_body()
    direct = openai.AsyncOpenAI(base_url=provider, api_key="sk-bench", max_retries=0)
    via_litellm = openai.AsyncOpenAI(base_url=litellm_base or provider, api_key=LITELLM_KEY, max_retries=0)
    results: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=attache_base, timeout=30) as http:

        async def sdk() -> None:
            await direct.chat.completions.create(**body)

        async def assess() -> None:
            (await http.post("/assess", json=JP01_SAMPLE_REQUEST)).raise_for_status()

        async def proxy() -> None:
            await via_litellm.chat.completions.create(**body)

        results["sdk"] = await sequential(sdk, RUNS)
        results["attache"] = await sequential(assess, RUNS)  # the default store (SQLite), cache off
        if litellm_base:
            results["litellm"] = await sequential(proxy, RUNS)
    await direct.close()
    await via_litellm.close()
    return results


def under_load(provider: str, workdir: Path, **settings: str) -> tuple[float, int, float, float]:
    """`attache serve` on `provider` under wrk: requests/s, errors, RSS idle and mid-run (MB)."""
    service, base = start_attache(provider, **settings)
    try:
        idle = rss_mb(service.proc.pid)
        rate, errors, rss = wrk(f"{base}/assess", JP01_SAMPLE_REQUEST, workdir, service.proc.pid)
    finally:
        service.stop()
    return rate, errors, idle, rss


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("make bench needs wrk: apt-get install wrk")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fast, fast_url = start_standin(0.0)
        slow, slow_url = start_standin(DELAY)
        services: list[Process] = []
        try:
            service, base = start_attache(fast_url)
            services.append(service)
            proxy_base = None
            if LITELLM.exists():
                proxy, proxy_base = litellm(fast_url, workdir)
                services.append(proxy)
            found = asyncio.run(latencies(fast_url, base, proxy_base))
            sdk = found["sdk"]

            def added(name: str) -> str:
                ours = found[name]
                return (f"{statistics.median(ours) - statistics.median(sdk):.2f} ms / "
                        f"{percentile(ours, 99) - percentile(sdk, 99):.2f} ms")  # fmt: skip

            rows.append(("added latency p50 / p99, /assess (c=1)", added("attache")))
            if proxy_base:
                rows.append(("added latency p50 / p99, LiteLLM proxy (c=1)", added("litellm")))
            for process in services:
                process.stop()
            services.clear()

            for label, settings in (("", {}), ("  --workers 2: ", {"workers": "2"})):
                rate, errors, idle, rss = under_load(slow_url, workdir, **settings)
                rows.append((f"{label}throughput, {CONNECTIONS} conns, 0.5 s provider (bound 512/s)",
                             f"{rate:.0f} req/s, {errors} errors"))  # fmt: skip
                rows.append((f"{label}RSS idle / at 256 in flight, all processes", f"{idle:.0f} MB / {rss:.0f} MB"))
            if LITELLM.exists():
                proxy, proxy_base = litellm(slow_url, workdir)
                services.append(proxy)
                captured = asyncio.run(captured_body())
                url = f"{proxy_base}/v1/chat/completions"
                rate, errors, _ = wrk(url, captured, workdir, None, auth=f"Bearer {LITELLM_KEY}")
                rows.append((f"LiteLLM throughput, {CONNECTIONS} conns", f"{rate:.0f} req/s, {errors} errors"))
        finally:
            for process in [*services, fast, slow]:
                process.stop()

        # The store: its write on SQLite and PostgreSQL beside none, cache hits, throughput store on/off.
        with postgres() as server:
            fast, fast_url = start_standin(0.0)
            slow, slow_url = start_standin(DELAY)
            try:
                rows += added_latency(fast_url, workdir, server)
                rows += cache_hits(fast_url, workdir, wrk)
                rows += store_throughput(slow_url, workdir, wrk)
            finally:
                fast.stop()
                slow.stop()

        registry, cache = workdir / "registry", workdir / "cache"
        registry.mkdir()
        generate(registry)
        start_to_ready(registry, cache)  # warms the cache
        ready = statistics.median(start_to_ready(registry, cache) for _ in range(3))
        rows.append(("start-to-ready, 50 x 10 registry, warm cache", f"{ready * 1000:.0f} ms"))

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; attache serve (defaults: 1 worker)")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
