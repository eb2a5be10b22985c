"""The interactive docs page renders in a real headless Chromium with no internet access."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI=true (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed; `apt-get install chromium` to run this test")
    return path


def test_swagger_ui_renders_every_operation_offline(live_server: str, tmp_path: Path) -> None:
    browser = chromium()
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{live_server}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # Swagger UI builds these nodes from the OpenAPI document in JavaScript: their presence
    # means the bundle loaded from /docs-assets and rendered the spec.
    assert 'class="swagger-ui' in dom, dom[:2000]
    assert "opblock-summary-path" in dom
    for path in ("/agents", "/agents/{agent_id}", "/agents/{agent_id}/versions/{ref}", "/health/ready"):
        assert f'data-path="{path}"' in dom, f"operation {path} not rendered"
    assert "List every persona" in dom
    assert "Failed to load API definition" not in dom
