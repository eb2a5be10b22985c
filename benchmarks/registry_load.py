"""Registry load time and process start-to-ready time on a 50-persona x 10-version registry.

    make bench-registry

Generates the registry in a temporary folder from JP-01's real 1.0.0 file (every version
gets its own system text, so no two templates are the same), locks it, then prints:
load time in-process with a cold and a warm load cache, and the wall time from spawning
`attache serve` to the first 200 from /health/ready, cold and warm. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.registry import load_registry  # noqa: E402
from service.registry.lock import Lock, sha256_file, write_lock  # noqa: E402
from service.settings import DEFAULT_REGISTRY_DIR  # noqa: E402
from tools.servers import free_port  # noqa: E402

PERSONAS = 50
VERSIONS = 10
RUNS = 5


def generate(root: Path) -> None:
    seed_persona = (DEFAULT_REGISTRY_DIR / "jp-01" / "persona.yaml").read_text(encoding="utf-8")
    seed_version = (DEFAULT_REGISTRY_DIR / "jp-01" / "1.0.0.yaml").read_text(encoding="utf-8")
    entries: dict[str, str] = {}
    for p in range(PERSONAS):
        pid = f"x{chr(97 + p // 26)}-{p % 100:02d}"
        folder = root / pid
        folder.mkdir()
        persona = seed_persona.replace("callsign: JP-01", f"callsign: {pid.upper()}")
        persona = persona.replace("canary: 1.1.0", f"canary: 1.{VERSIONS - 1}.0")
        (folder / "persona.yaml").write_text(persona, encoding="utf-8")
        for v in range(VERSIONS):
            text = seed_version.replace(
                "  They need the judgement behind it.\n",
                f"  They need the judgement behind it. (Desk {pid}, revision {v}.)\n",
            )
            path = folder / f"1.{v}.0.yaml"
            path.write_text(text, encoding="utf-8")
            entries[f"{pid}/{path.name}"] = sha256_file(path)
    write_lock(root, Lock(entries))


def start_to_ready(registry: Path, cache: Path) -> float:
    port = free_port()
    env = {**os.environ, "ATTACHE_REGISTRY_DIR": str(registry), "ATTACHE_CACHE_DIR": str(cache)}
    attache = str(Path(sys.executable).with_name("attache"))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [attache, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("attache serve exited before it was ready") from None
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "registry", Path(tmp) / "cache"
        root.mkdir()
        generate(root)

        cold_loads, warm_loads = [], []
        for _ in range(RUNS):
            shutil.rmtree(cache, ignore_errors=True)
            t = time.perf_counter()
            registry = load_registry(root, cache_dir=cache)
            cold_loads.append(time.perf_counter() - t)
            t = time.perf_counter()
            load_registry(root, cache_dir=cache)
            warm_loads.append(time.perf_counter() - t)

        cold_starts, warm_starts = [], []
        for _ in range(RUNS):
            shutil.rmtree(cache, ignore_errors=True)
            cold_starts.append(start_to_ready(root, cache))
            warm_starts.append(start_to_ready(root, cache))

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms   min {min(values) * 1000:7.1f} ms"

    print(f"registry: {len(registry.personas)} personas x {VERSIONS} = {registry.version_count} versions")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {RUNS} runs each")
    print(f"load, cold cache      {ms(cold_loads)}   (target <= 200 ms)")
    print(f"load, warm cache      {ms(warm_loads)}   (target <= 200 ms)")
    print(f"start-to-ready, cold  {ms(cold_starts)}   (target <= 1500 ms)")
    print(f"start-to-ready, warm  {ms(warm_starts)}   (target <= 1500 ms)")


if __name__ == "__main__":
    main()
