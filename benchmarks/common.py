"""What every benchmark needs: start processes, wait for them, time calls, read RSS."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOAD_SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))  # each wrk run
CONNECTIONS = 256  # wrk's connections
DELAY = 0.5  # the stand-in provider's answer time in the load runs (s)


class Process:
    """A background process of the benchmark, quiet, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_ready(url: str, process: Process | None = None, seconds: float = 90) -> None:
    """Poll `url` until it answers below 500; fail early if `process` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if process is not None and process.proc.poll() is not None:
            raise RuntimeError(f"{process.proc.args!r} exited")
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


async def sequential(call: Callable[[], Awaitable[object]], runs: int, warmup: int = 30) -> list[float]:
    """Milliseconds of `runs` calls one after another, after `warmup` untimed ones."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (uvicorn workers), in MB."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for p in [pid, *map(int, children)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        if match := re.search(r"VmRSS:\s+(\d+)", status):
            total += int(match.group(1))
    return total / 1024


def start_standin(delay: float = 0.0) -> tuple[Process, str]:
    """The stand-in provider (tools/standin.py) answering every call after `delay` s; its base URL."""
    from tools.servers import free_port

    port = free_port()
    args = [sys.executable, "-m", "tools.standin", "--port", str(port), "--delay", str(delay)]
    return Process(args), f"http://127.0.0.1:{port}/v1"


def start_attache(provider: str, **settings: str) -> tuple[Process, str]:
    """`attache serve` on `provider`, rate limit off, ready; extra ATTACHE_* settings by name.

    Each service keeps its store (SQLite) in a fresh folder, and the response cache is off
    unless a setting turns it on: a benchmark of the provider path must reach the provider.
    Logging stays at the production level (info); its lines go to /dev/null.
    """
    from tools.servers import free_port

    port = free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": provider,
        "OPENAI_API_KEY": "sk-bench",
        "ATTACHE_RATE_LIMIT_PER_MINUTE": "0",
        "ATTACHE_DATA_DIR": tempfile.mkdtemp(prefix="attache-bench-"),
        "ATTACHE_RESPONSE_CACHE_TTL": "0",
        **{f"ATTACHE_{name.upper()}": value for name, value in settings.items()},
    }
    process = Process([str(Path(sys.executable).with_name("attache")), "serve", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/health/ready", process)
    return process, base


def wrk(url: str, body: dict[str, Any], workdir: Path, pid: int | None, auth: str = "") -> tuple[float, int, float]:
    """Requests/s, non-2xx count, and the RSS sampled mid-run (MB) of `pid`'s tree."""
    body_file = workdir / f"body-{abs(hash(url))}.json"
    body_file.write_text(json.dumps(body))
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{LOAD_SECONDS}s", "--timeout", "30s", "-s",
            str(ROOT / "benchmarks" / "assess.lua"), url]  # fmt: skip
    env = {**os.environ, "BODY_FILE": str(body_file), "AUTH": auth}
    run = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(LOAD_SECONDS / 2)
    rss = rss_mb(pid) if pid else float("nan")
    report, _ = run.communicate()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for status, n in re.findall(r"status (\d+): (\d+)", report) if not status.startswith("2"))
    timeouts = re.search(r"timeout (\d+)", report)
    return rate, errors + (int(timeouts.group(1)) if timeouts else 0), rss
