"""The fixed set of ten news items through a real model: first-attempt validity, time, tokens/s.

    make bench-local

SmolLM2-135M-Instruct under llama-cpp-python's server and `attache serve` as real processes
(tools/local_model.py, the same run as tests/processes/test_local_model.py). Prints a row per item and
the totals; asserts nothing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import local_model


def main() -> None:
    if not local_model.installed():
        sys.exit("the local model environment is not built: run `make local-model`")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        outcomes = local_model.run_fixed_set(Path(work))
        print(local_model.report(outcomes))
        print(local_model.server_timings(Path(work) / "llama-server.log"))
    print(f"wall time, server start to last answer: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
