"""The `attache` command, run as a user runs it: the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from schemas import SCHEMAS, Assessment
from service.cli import main
from tests.conftest import ATTACHE


def attache(*args: str, registry: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ATTACHE_CACHE_DIR": "off", **env}
    if registry is not None:
        environ["ATTACHE_REGISTRY_DIR"] = str(registry)
    return subprocess.run([ATTACHE, *args], capture_output=True, text=True, env=environ, timeout=60, check=False)


def test_registry_check_passes_on_the_repository_registry() -> None:
    result = attache("registry", "check")
    assert result.returncode == 0, result.stderr
    assert "is valid: 8 personas" in result.stdout  # seven desks and the judge


def test_registry_check_fails_naming_file_and_version(registry_dir: Path) -> None:
    path = registry_dir / "jp-01" / "1.1.0.yaml"
    path.write_text(path.read_text().replace("temperature: 0.3", "temperature: 0.35"))
    result = attache("registry", "check", registry=registry_dir)
    assert result.returncode == 1
    assert f"{path}: published version 1.1.0 changed" in result.stderr


def test_registry_lock_adds_new_versions_only(registry_dir: Path) -> None:
    lock = registry_dir / "registry.lock"
    before = lock.read_text()
    new = registry_dir / "us-01" / "1.1.0.yaml"
    new.write_text((registry_dir / "us-01" / "1.0.0.yaml").read_text().replace("temperature: 0.4", "temperature: 0.2"))

    assert attache("registry", "check", registry=registry_dir).returncode == 1
    result = attache("registry", "lock", registry=registry_dir)
    assert result.returncode == 0, result.stderr
    assert "locked us-01/1.1.0.yaml" in result.stdout
    after = lock.read_text()
    assert set(before.splitlines()) < set(after.splitlines()), "existing entries are kept byte for byte"
    assert attache("registry", "check", registry=registry_dir).returncode == 0
    assert "up to date" in attache("registry", "lock", registry=registry_dir).stdout


def test_registry_lock_refuses_to_rewrite_a_published_entry(registry_dir: Path) -> None:
    lock = registry_dir / "registry.lock"
    before = lock.read_text()
    path = registry_dir / "jp-01" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("temperature: 0.4", "temperature: 0.1"))
    result = attache("registry", "lock", registry=registry_dir)
    assert result.returncode == 1
    assert "refusing to rewrite" in result.stderr
    assert lock.read_text() == before


def test_registry_lock_refuses_an_invalid_new_version(registry_dir: Path) -> None:
    new = registry_dir / "us-01" / "1.1.0.yaml"
    new.write_text((registry_dir / "us-01" / "1.0.0.yaml").read_text().replace("{{ question }}", "{{ qestion }}"))
    result = attache("registry", "lock", registry=registry_dir)
    assert result.returncode == 1
    assert "undeclared variable(s) qestion" in result.stderr
    assert "us-01/1.1.0.yaml" not in (registry_dir / "registry.lock").read_text()


def test_registry_diff_shows_template_and_config_changes() -> None:
    result = attache("registry", "diff", "jp-01", "1.0.0", "1.1.0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "--- jp-01@1.0.0 config\n+++ jp-01@1.1.0 config" in out
    assert "-  temperature: 0.4\n+  temperature: 0.3" in out
    assert "--- jp-01@1.0.0 system template" in out
    assert "+  Every forecast carries a horizon and a likelihood" in out
    assert out.rstrip().endswith("Output schema unchanged: assessment v1.")


def test_registry_diff_says_plainly_when_the_output_schema_changes(
    registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = registry_dir / "us-01" / "2.0.0.yaml"
    text = (registry_dir / "us-01" / "1.0.0.yaml").read_text()
    new.write_text(text.replace("  schema: assessment\n  version: 1", "  schema: assessment\n  version: 2"))
    # Without an assessment v2 the registry names that problem instead of diffing blindly...
    result = attache("registry", "diff", "us-01", "1.0.0", "2.0.0", registry=registry_dir)
    assert result.returncode == 1
    assert "unknown output schema assessment v2" in result.stderr
    # ...and once v2 exists (here: in-process), the diff says so in plain words.
    monkeypatch.setitem(SCHEMAS, ("assessment", 2), Assessment)
    args = ["registry", "diff", "--registry-dir", str(registry_dir), "us-01", "1.0.0", "2.0.0"]
    outcome = CliRunner().invoke(main, args, env={"ATTACHE_CACHE_DIR": "off"})
    assert outcome.exit_code == 0, outcome.output
    assert "-  version: 1\n+  version: 2" in outcome.output
    assert "OUTPUT SCHEMA CHANGED: assessment v1 -> assessment v2" in outcome.output


def test_registry_diff_rejects_unknown_versions() -> None:
    result = attache("registry", "diff", "jp-01", "1.0.0", "4.0.0")
    assert result.returncode == 1
    assert "no version or label '4.0.0'" in result.stderr


def test_agents_lists_the_roster() -> None:
    result = attache("agents")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "CALLSIGN", "NAME"]
    assert any(line.startswith("jp-01  JP-01     Japan Agent") for line in lines)
    assert len(lines) == 1 + 8  # seven desks and the judge


def test_a_bad_setting_names_the_variable() -> None:
    result = attache("registry", "check", ATTACHE_LOG_LEVEL="loud")
    assert result.returncode == 1
    assert "ATTACHE_LOG_LEVEL" in result.stderr


def test_serve_answers_real_http(live_server: str) -> None:
    with urllib.request.urlopen(f"{live_server}/agents", timeout=5) as response:
        agents = json.load(response)["agents"]
    assert len(agents) >= 6


def test_serve_refuses_to_start_on_a_broken_registry(registry_dir: Path) -> None:
    persona = registry_dir / "kr-01" / "persona.yaml"
    persona.write_text(persona.read_text() + "mood: tense\n")
    result = attache("serve", "--port", "1", registry=registry_dir)
    assert result.returncode == 1
    assert f"{persona}:" in result.stderr
    assert "unknown key `mood`" in result.stderr
