"""`make bench-fleet`: two replicas behind one Redis and one PostgreSQL, beside one replica.

Over loopback, with a real PostgreSQL and Redis (Debian's packages, started here) and the
stand-in provider answering after 0.5 s:

1. one replica (1 worker) under 256 connections: requests/s and p99 (wrk);
2. two replicas (1 worker each) under 128 connections each, at the same time: the sum of
   requests/s and the worse p99; every request charges the shared rate limit on Redis (the
   limit is set high enough never to refuse) and is kept in PostgreSQL;
3. rate-limit accuracy: 2 replicas x 2 workers with a limit of 100 a minute, a burst of 300
   concurrent requests spread over both: how many were admitted.

Both replicas run on this machine's 2 cores, so two replicas cannot show a fleet's
scaling here; the row shows what sharing Redis and PostgreSQL costs. Prints; asserts nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import DELAY, start_attache, start_standin  # noqa: E402
from tools.news import JP01_SAMPLE_REQUEST  # noqa: E402

LOAD_SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
SECRET = "bench-caller-secret-shared-by-replicas-0"  # noqa: S105 - a benchmark's own value
ACCURACY_LIMIT = 100
KEY = "ck-bench-fleet-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def wrk(url: str, connections: int, workdir: Path) -> subprocess.Popen[str]:
    body = workdir / "body.json"
    body.write_text(json.dumps(JP01_SAMPLE_REQUEST))
    args = ["wrk", "-t1", f"-c{connections}", f"-d{LOAD_SECONDS}s", "--timeout", "30s", "--latency",
            "-s", str(ROOT / "benchmarks" / "assess.lua"), url]  # fmt: skip
    return subprocess.Popen(args, env={**os.environ, "BODY_FILE": str(body)}, stdout=subprocess.PIPE, text=True)


def read(run: subprocess.Popen[str]) -> tuple[float, float, int]:
    """Requests/s, p99 in ms, and responses that were not 2xx."""
    report, _ = run.communicate()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", report).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = sum(int(n) for status, n in re.findall(r"status (\d+): (\d+)", report) if not status.startswith("2"))
    return rate, p99, errors


def main() -> None:
    from tools.bursts import admitted_in_one_burst, quiet_window
    from tools.servers import PostgresServer, RedisServer

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        postgres, redis = PostgresServer(), RedisServer()
        stack.callback(postgres.close)
        stack.callback(redis.close)
        postgres.start()
        redis.start()
        standin, provider = start_standin(DELAY)
        stack.callback(standin.stop)
        fleet = {
            "database_url": postgres.database(),
            "redis_url": redis.url,
            "caller_secret": SECRET,
            "rate_limit_per_minute": "100000000",  # charged on Redis, never refused
        }

        one, base = start_attache(provider, **fleet)
        rate, p99, errors = read(wrk(f"{base}/assess", 256, workdir))
        one.stop()
        rows.append(("one replica, 256 conns, 0.5 s provider", f"{rate:.0f} req/s, p99 {p99:.0f} ms, {errors} errors"))

        replicas = [start_attache(provider, **fleet) for _ in range(2)]
        runs = [wrk(f"{base}/assess", 128, workdir) for _, base in replicas]
        results = [read(run) for run in runs]
        for service, _ in replicas:
            service.stop()
        total = sum(rate for rate, _, _ in results)
        worst = max(p99 for _, p99, _ in results)
        errors = sum(errors for _, _, errors in results)
        rows.append(
            ("two replicas, 128 conns each, same run", f"{total:.0f} req/s, p99 {worst:.0f} ms, {errors} errors")
        )

        # A key of its own: the throughput runs above charged the open-mode caller (this address).
        limited = {**fleet, "rate_limit_per_minute": str(ACCURACY_LIMIT), "workers": "2", "api_keys": KEY}
        replicas = [start_attache(provider, **limited) for _ in range(2)]
        try:
            quiet_window(30)
            admitted = admitted_in_one_burst([base for _, base in replicas], KEY, 3 * ACCURACY_LIMIT)
        finally:
            for service, _ in replicas:
                service.stop()
        rows.append((
            "rate-limit accuracy, 2 replicas x 2 workers",
            f"{admitted} admitted of {3 * ACCURACY_LIMIT} concurrent, limit {ACCURACY_LIMIT}/min",
        ))  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; PostgreSQL and Redis on loopback")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
