"""The load cache can skip a check, never change what is served, and never crash start-up.

Entries hold data only (the names a version's templates use; that a render check
passed), each behind a checksum; what a version renders is always built from its own
file's bytes, which the lock checks at every load. So: whatever is written into the cache
folder, the served prompt is the locked one; any unreadable, corrupt, stale or foreign
entry is a miss; a folder other users can write is not used at all.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path

import msgspec
import pytest

from service.registry import load_registry
from service.registry.cache import LoadCache
from service.registry.load import RegistryInvalid, TemplateNames

VALUES = {"context": "A framework was signed.", "source": "CSPAN", "as_of": "2025-10-28"}


def rendered(registry_dir: Path, cache: Path | None) -> dict[str, tuple[str, str]]:
    registry = load_registry(registry_dir, cache_dir=cache)
    out = {}
    for persona in registry.personas.values():
        for prompt in persona.versions.values():
            # The judge also needs the assessment it reads: its own examples stand in for what eval sends.
            values = {**prompt.sample_values(only_required=True), **VALUES}
            values = {k: v for k, v in values.items() if k in prompt.variables}
            result = prompt.render(persona, values)
            out[f"{persona.id}@{prompt.version}"] = (result.system, result.user)
    return out


def test_entries_hold_data_never_code_or_template_text(registry_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_registry(registry_dir, cache_dir=cache)
    entries = list(cache.iterdir())
    assert entries
    for entry in entries:
        data = entry.read_bytes()
        assert b"persona.callsign" not in data, "no template text"
        payload = msgspec.msgpack.decode(data[32:])
        assert isinstance(payload, bool | dict), payload
        assert hashlib.sha256(data[32:]).digest() == data[:32]


def test_whatever_the_cache_holds_the_locked_prompt_is_served(registry_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = rendered(registry_dir, None)
    load_registry(registry_dir, cache_dir=cache)
    lies = TemplateNames(system=["persona"], user=["context"])
    for entry in cache.iterdir():
        # A well-formed entry with a valid checksum that lies about the templates.
        payload = msgspec.msgpack.encode(lies if entry.name.startswith("version-") else True)
        entry.write_bytes(hashlib.sha256(payload).digest() + payload)
    assert rendered(registry_dir, cache) == expected


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]),  # a flipped byte
        lambda data: marshal.dumps((b"spec", {"system": (compile("1", "x", "eval"), [])})),  # the old layout
        lambda data: os.urandom(len(data)),
    ],
    ids=["empty", "truncated", "flipped", "old-layout", "random"],
)
def test_a_damaged_entry_is_a_miss_never_a_crash(registry_dir: Path, tmp_path: Path, damage: object) -> None:
    cache = tmp_path / "cache"
    expected = rendered(registry_dir, cache)
    for entry in cache.iterdir():
        entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    assert rendered(registry_dir, cache) == expected


def test_a_version_broken_after_caching_is_still_refused(registry_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_registry(registry_dir, cache_dir=cache)
    path = registry_dir / "jp-01" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("{{ persona.callsign }}", "{{ persona.callsign "))
    with pytest.raises(RegistryInvalid, match=r"published version 1\.0\.0 changed"):
        load_registry(registry_dir, cache_dir=cache)


@pytest.mark.parametrize(("mode", "owner"), [(0o777, None), (0o775, None), (0o755, 12345)])
def test_a_folder_other_users_can_write_is_not_used(
    registry_dir: Path, tmp_path: Path, mode: int, owner: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(mode)
    if owner is not None:
        os.chown(cache, owner, owner)
    assert LoadCache(cache).directory is None
    load_registry(registry_dir, cache_dir=cache)
    assert list(cache.iterdir()) == [], "nothing written, nothing read"
    assert "load cache refused" in capsys.readouterr().out
