"""What `/assess` adds on top of the model call, at concurrency 1.

    make bench-assess

Three processes on loopback: the stand-in provider (answers at once with JP-01's
assessment), `attache serve`, and this client. The same request body the service sends is
also sent straight to the stand-in with the openai SDK; the difference of the two latency
distributions is what Attaché adds (routing, validation, prompt rendering, instructor
parsing and validation, envelope encoding, HTTP); the service's CPU time per assessment is
read from /proc. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import instructor  # noqa: E402

from benchmarks.common import percentile, sequential, start_attache, start_standin  # noqa: E402
from schemas import Assessment  # noqa: E402
from service.registry import load_registry  # noqa: E402
from service.registry.reference import AgentReference  # noqa: E402
from service.settings import DEFAULT_REGISTRY_DIR  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402
from tools.scenarios import assessment  # noqa: E402
from tools.standin import Reply, StandIn  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "300"))


def main() -> None:
    standin, provider = start_standin()
    service, url = start_attache(provider)
    try:
        results, cpu = asyncio.run(measure(provider, url, service.proc.pid))
    finally:
        service.stop()
        standin.stop()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {RUNS} sequential requests each")
    print(f"{'path':28} {'p50 ms':>8} {'p99 ms':>8}")
    for name, samples in results.items():
        print(f"{name:28} {statistics.median(samples):8.2f} {percentile(samples, 99):8.2f}")
    base, ours = results["openai SDK -> stand-in"], results["POST /assess -> stand-in"]
    print(
        f"{'added by Attaché':28} {statistics.median(ours) - statistics.median(base):8.2f} "
        f"{percentile(ours, 99) - percentile(base, 99):8.2f}"
    )
    for name, ms in cpu.items():
        print(f"CPU time, {name}: {ms:.2f} ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    provider_url: str, service_url: str, service_pid: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Latencies of both paths; CPU milliseconds per call of the service and of the bare SDK call."""
    body: Any = await captured_body()
    sdk = openai.AsyncOpenAI(base_url=provider_url, api_key="sk-bench", max_retries=0)
    async with httpx.AsyncClient(base_url=service_url, timeout=30) as http:

        async def direct() -> None:
            await sdk.chat.completions.create(**body)

        async def via_attache() -> None:
            response = await http.post("/assess", json=JP01_SAMPLE_REQUEST)
            response.raise_for_status()

        await sequential(direct, 0)  # warm-up, outside the CPU reading
        started = time.process_time()
        results = {"openai SDK -> stand-in": await sequential(direct, RUNS, warmup=0)}
        sdk_ms = (time.process_time() - started) * 1000 / RUNS
        await sequential(via_attache, 0)  # warm-up, outside the CPU reading
        before = cpu_seconds(service_pid)
        results["POST /assess -> stand-in"] = await sequential(via_attache, RUNS, warmup=0)
        service_ms = (cpu_seconds(service_pid) - before) * 1000 / RUNS
    await sdk.close()
    return results, {"service, per POST /assess": service_ms, "this client, per bare SDK call": sdk_ms}


async def captured_body() -> dict[str, object]:
    """The request the service sends for JP01_SAMPLE_REQUEST, captured by an in-process stand-in."""
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    resolved = registry.resolve(AgentReference.parse(str(JP01_SAMPLE_REQUEST["agent"])))
    persona, prompt = resolved.persona, resolved.prompt
    rendered = prompt.render(
        persona,
        {k: JP01_SAMPLE_REQUEST.get(k) for k in ("context", "source", "as_of")},
    )
    with StandIn() as probe:
        probe.push(Reply.completion(assessment("jp-01-us-japan-critical-minerals")))
        raw = openai.AsyncOpenAI(base_url=probe.base_url, api_key="sk-bench")
        client = instructor.from_openai(raw)
        await client.chat.completions.create(
            model=prompt.spec.model.name,
            response_model=Assessment,
            messages=[{"role": "system", "content": rendered.system}, {"role": "user", "content": rendered.user}],
            temperature=prompt.spec.model.temperature,
            max_tokens=prompt.spec.model.max_output_tokens,
            max_retries=0,
        )
        await raw.close()
        body: dict[str, object] = probe.received[0].json()
    return body


if __name__ == "__main__":
    main()
