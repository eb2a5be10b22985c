"""`attache registry check`, run as a user runs it, names the file for each problem it finds."""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.registry.load import EVALS_DIR
from tests.conftest import ATTACHE
from tests.processes.test_cli import attache
from tests.unit.registry.test_load import line_of


def test_registry_check_names_the_file_for_unreadable_version_files(registry_dir: Path) -> None:
    (registry_dir / "us-01" / "1.0.0.yaml").write_bytes(b"changelog: caf\xe9\n")
    (registry_dir / "cn-01" / "2.0.0.yaml").mkdir()
    (registry_dir / "kr-01" / "2.0.0.yaml").symlink_to(registry_dir / "kr-01" / "missing")
    result = attache("registry", "check", registry=registry_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{registry_dir / 'us-01' / '1.0.0.yaml'}: not UTF-8 text (byte 14" in result.stderr
    assert f"{registry_dir / 'cn-01' / '2.0.0.yaml'}: named like a version file, but not a file" in result.stderr
    assert f"{registry_dir / 'kr-01' / '2.0.0.yaml'}: named like a version file, but not a file" in result.stderr


def test_registry_check_validates_the_suites_naming_file_and_line(registry_dir: Path) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ATTACHE, "registry", "check", "--registry-dir", str(registry_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"ATTACHE_CACHE_DIR": "off", "PATH": "/usr/bin:/bin"},
        )

    good = check()
    assert good.returncode == 0, good.stderr
    assert "7 eval suites" in good.stdout
    suite = registry_dir / "kr-01" / EVALS_DIR / "core.yaml"
    suite.write_text(suite.read_text().replace("    source: Yonhap\n", "    source: Yonhap\n    mood: tense\n", 1))
    bad = check()
    assert bad.returncode == 1
    assert f"{suite}:{line_of(suite, 'mood: tense')}: unknown key `mood`" in bad.stderr
