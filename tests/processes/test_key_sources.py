"""A bad key source stops `attache serve` at start-up, naming the variable and never the key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ATTACHE, free_port


@pytest.mark.parametrize(
    "env",
    [
        {"ATTACHE_API_KEYS_FILE": "/var/run/secrets/attache/api-keys"},  # the chart's path, Secret key misnamed
        {"ATTACHE_API_KEYS": "/var/run/secrets/attache/api-keys"},  # the old way of naming a file
        {"ATTACHE_API_KEYS": "ck-too-short"},
    ],
)
def test_serve_refuses_to_start_on_a_bad_key_source(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [ATTACHE, "serve", "--port", str(port)],
        env={**os.environ, "ATTACHE_CACHE_DIR": "off", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    variable = next(iter(env))
    assert f"Error: {variable}" in result.stderr
    assert "Traceback" not in result.stderr
