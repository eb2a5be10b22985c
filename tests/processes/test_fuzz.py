"""schemathesis against the service's own OpenAPI document, the stand-in as provider.

At least 2,000 generated requests (valid and invalid) across every operation, with every
check: no server error, every response (status, content type, headers, body) as documented,
invalid data rejected, valid data accepted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ATTACHE, free_port, wait_until_up

REQUESTS_AT_LEAST = 2000
KEY = "ck-fuzz-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_schemathesis_finds_no_failure_in_2000_requests(tmp_path: Path) -> None:
    standin_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{standin_port}/v1",
        "OPENAI_API_KEY": "sk-test-fuzz",
        "ATTACHE_CACHE_DIR": str(tmp_path / "cache"),
        "ATTACHE_RATE_LIMIT_PER_MINUTE": "0",
        # Keys on, as in production: the document declares bearer auth, which schemathesis checks both ways.
        "ATTACHE_API_KEYS": KEY,
        "ATTACHE_LOG_LEVEL": "warning",
    }
    logs = [tmp_path / "standin.log", tmp_path / "serve.log"]
    with logs[0].open("w") as standin_out, logs[1].open("w") as serve_out:
        standin = subprocess.Popen(
            [sys.executable, "-m", "tools.standin", "--port", str(standin_port)],
            stdout=standin_out,
            stderr=standin_out,
            cwd=Path(__file__).resolve().parent.parent.parent,
        )
        service = subprocess.Popen([ATTACHE, "serve", "--port", str(port)], env=env, stdout=serve_out, stderr=serve_out)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/health/ready", logs=logs, procs=[standin, service])
            schemathesis = str(Path(sys.executable).with_name("schemathesis"))
            result = subprocess.run(
                [
                    schemathesis,
                    "--config-file",
                    str(Path(__file__).with_name("schemathesis.toml")),
                    "run",
                    f"{base}/docs/openapi.json",
                    "--checks",
                    "all",
                    "--max-examples",
                    "300",
                    "--seed",
                    "20261125",
                    "--generation-database",
                    "none",
                    "--request-timeout",
                    "30",
                    "--no-color",
                    "--header",
                    f"Authorization: Bearer {KEY}",
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        finally:
            service.terminate()
            standin.terminate()
            service.wait(timeout=30)
            standin.wait(timeout=30)
    assert result.returncode == 0, result.stdout[-6000:]
    summary = next(line for line in result.stdout.splitlines() if "generated" in line)
    generated = int(summary.split()[0])
    print(f"schemathesis: {summary.strip()}")
    assert generated >= REQUESTS_AT_LEAST, summary
