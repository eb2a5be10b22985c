"""Memory of a pod under load, per worker: the figure the chart's memory limit is derived from.

    make bench-memory                                  # needs wrk (apt-get install wrk)
    BENCH_WORKERS="1 4" BENCH_CONNECTIONS=256 make bench-memory

For each worker count N, `attache serve --workers N` runs on the stand-in provider (0.5 s per
call; SQLite store in a fresh folder, response cache off, so every request reaches the
provider and writes a row), and wrk keeps BENCH_CONNECTIONS connections (256) busy for
BENCH_SECONDS (20) with POST /assess. RSS is sampled every 0.25 s for the launcher and for each
worker on its own. Prints idle and peak RSS: the launcher's, the heaviest worker's, and the
whole pod's (what a container's memory limit must hold). Asserts nothing.

With N = 1 the launcher is the worker (one process). With N > 1 the kernel spreads the
connections over the workers, so each holds about BENCH_CONNECTIONS / N in flight;
BENCH_CONNECTIONS=1024 with N = 4 puts every worker near its bound of 256.
BENCH_STORE=postgresql keeps the assessments on a real PostgreSQL server started here instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import start_attache, start_standin  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402

WORKERS = [int(n) for n in os.environ.get("BENCH_WORKERS", "1 2 4").split()]
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "256"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
STORE = os.environ.get("BENCH_STORE", "sqlite")
PROVIDER_DELAY = 0.5


def rss_of(pid: int) -> float:
    """One process's RSS in MB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+)", status)
    return int(match[1]) / 1024 if match else 0.0


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(p) for p in found]


def is_worker(pid: int) -> bool:
    """A uvicorn worker (spawned), not multiprocessing's resource tracker beside them."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def measure(wrk: str, workers: int, store: dict[str, str]) -> None:
    standin, provider = start_standin(PROVIDER_DELAY)
    service, base = start_attache(provider, workers=str(workers), **store)
    body = ROOT / "benchmarks" / ".body.json"
    body.write_text(json.dumps(JP01_SAMPLE_REQUEST))
    launcher = service.proc.pid
    try:
        time.sleep(2)  # every worker has imported the app and warmed up
        pids = children(launcher)
        worker_pids = [p for p in pids if is_worker(p)]  # the rest: multiprocessing's resource tracker
        idle = {pid: rss_of(pid) for pid in [launcher, *pids]}
        peak = dict(idle)
        peak_total = sum(idle.values())
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_total
            while not done.is_set():
                now = {pid: rss_of(pid) for pid in peak}
                peak_total = max(peak_total, sum(now.values()))
                for pid, mb in now.items():
                    peak[pid] = max(peak[pid], mb)
                time.sleep(0.25)

        sampler = threading.Thread(target=sample)
        sampler.start()
        script = str(ROOT / "benchmarks" / "assess.lua")
        report = subprocess.run(
            [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", script, f"{base}/assess"],
            env={**os.environ, "BODY_FILE": str(body)},
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        done.set()
        sampler.join()
        if children(launcher) != pids:
            sys.exit("a worker was replaced during the run (killed?): the figures would mix processes")
    finally:
        body.unlink(missing_ok=True)
        service.stop()
        standin.stop()

    statuses = " ".join(line.removeprefix("status ") for line in report.splitlines() if line.startswith("status "))
    rate = next((line.split()[1] for line in report.splitlines() if line.startswith("Requests/sec")), "?")
    print(f"--workers {workers}, wrk -c{CONNECTIONS} -d{SECONDS}s: {rate} req/s; statuses {statuses}")
    if workers == 1:
        print(f"  RSS MB: idle {idle[launcher]:.0f}; peak {peak_total:.0f} (one process)")
        return
    others = [p for p in pids if p not in worker_pids]
    print(
        f"  RSS MB, idle: pod {sum(idle.values()):.0f} = launcher {idle[launcher]:.0f} + workers "
        f"{'/'.join(f'{idle[p]:.0f}' for p in worker_pids)} + other {sum(idle[p] for p in others):.0f}"
    )
    print(
        f"  RSS MB, peak: pod {peak_total:.0f}; launcher {peak[launcher]:.0f}, workers "
        f"{'/'.join(f'{peak[p]:.0f}' for p in worker_pids)}, other {sum(peak[p] for p in others):.0f}"
    )


def main() -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"machine: {os.cpu_count()} cores; provider {PROVIDER_DELAY} s per call; {STORE} store, response cache off")
    if STORE != "postgresql":
        for workers in WORKERS:
            measure(wrk, workers, {})
        return
    from tools.servers import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        for workers in WORKERS:
            measure(wrk, workers, {"database_url": server.database()})
    finally:
        server.close()


if __name__ == "__main__":
    main()
