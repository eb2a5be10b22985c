"""Callers are named by an HMAC of their key with a server-side secret, never by the key.

A bare truncated sha256 of a short key can be reversed offline by trying keys; an HMAC
cannot without the secret. The secret is kept (mode 0600) in the data folder, so a caller
keeps its name across restarts, or comes from ATTACHE_CALLER_SECRET, shared by a fleet.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from service.access.callers import SECRET_FILE, CallerNames, caller_secret
from service.settings import Settings

KEY = "ck-callers-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_a_name_is_an_hmac_of_the_key_not_its_hash(tmp_path: Path) -> None:
    secret = caller_secret(Settings(data_dir=str(tmp_path)))
    name = CallerNames(secret).of_key(KEY)
    assert name.startswith("key-")
    assert hashlib.sha256(KEY.encode()).hexdigest()[:12] not in name
    expected = hmac.new(secret, f"key\x00{KEY}".encode(), hashlib.sha256).hexdigest()[:20]
    assert name == f"key-{expected}"
    assert CallerNames(b"another secret of thirty-two bytes").of_key(KEY) != name


def test_the_secret_is_kept_private_and_reused_across_restarts(tmp_path: Path) -> None:
    first = caller_secret(Settings(data_dir=str(tmp_path)))
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert caller_secret(Settings(data_dir=str(tmp_path))) == first, "a restart keeps every caller's name"
    assert caller_secret(Settings(data_dir=str(tmp_path / "elsewhere"))) != first


def test_a_configured_secret_wins_and_is_shared(tmp_path: Path) -> None:
    shared = "s" * 40
    a = caller_secret(Settings(data_dir=str(tmp_path / "a"), caller_secret=shared))
    b = caller_secret(Settings(data_dir=str(tmp_path / "b"), caller_secret=shared))
    assert a == b == shared.encode()
    assert not (tmp_path / "a" / SECRET_FILE).exists()


def test_a_damaged_secret_file_never_stops_the_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"short")
    secret = caller_secret(Settings(data_dir=str(tmp_path)))
    assert len(secret) == 32
    assert "caller secret cannot be kept" in capsys.readouterr().out
